// Channel settings shared by agents and clients.

/** Keepalive: a peer that vanished without closing is noticed in ~15 s even when idle. */
export const KEEPALIVE_OPTIONS = {
  'grpc.keepalive_time_ms': 10_000,
  'grpc.keepalive_timeout_ms': 5_000,
  'grpc.keepalive_permit_without_calls': 1,
  'grpc.http2.min_ping_interval_without_data_ms': 5_000,
} as const;

/** Reconnect with exponential backoff, from 250 ms up to 5 s between tries. */
export const RECONNECT_OPTIONS = {
  'grpc.initial_reconnect_backoff_ms': 250,
  'grpc.min_reconnect_backoff_ms': 250,
  'grpc.max_reconnect_backoff_ms': 5_000,
} as const;
