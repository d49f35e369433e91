import * as grpc from '@grpc/grpc-js';
import { KEEPALIVE_OPTIONS, RECONNECT_OPTIONS } from './channel-options.js';
import { ProcHostClient } from './generated/procsys.js';

export { ProcHostClient };

/**
 * A channel to one agent. The agent's certificate must name `peerName` (the name its
 * certificate was made for), whatever address it is reached at. Calls fail at once while
 * the channel is down (no wait-for-ready): the caller decides how long a read may wait.
 */
export function connectAgent(peerName: string, address: string, credentials: grpc.ChannelCredentials): ProcHostClient {
  return new ProcHostClient(address, credentials, {
    ...KEEPALIVE_OPTIONS,
    ...RECONNECT_OPTIONS,
    'grpc.ssl_target_name_override': peerName,
    'grpc.default_authority': peerName,
    'grpc.max_receive_message_length': 64 * 1024 * 1024,
    'grpc.enable_retries': 0,
  });
}

/** Calls one unary method with a deadline (ms since the epoch) and returns its reply. */
export function unary<Req, Res>(
  method: (request: Req, metadata: grpc.Metadata, options: Partial<grpc.CallOptions>, callback: (error: grpc.ServiceError | null, response: Res) => void) => grpc.ClientUnaryCall,
  request: Req,
  deadline: number,
): Promise<Res> {
  return new Promise((resolve, reject) => {
    method(request, new grpc.Metadata(), { deadline }, (error, response) => (error ? reject(error) : resolve(response)));
  });
}
