/** The hook event through which a plugin adds its own lines to `kmx doctor`. */
export const DOCTOR_HOOK = 'kmx-doctor';

/** One line of `kmx doctor`. */
export interface DoctorCheck {
  name: string;
  ok: boolean;
  /** What was found, or why not. */
  detail: string;
  /** The command that fixes it, when something is missing. */
  fix?: string;
  /** Without it kmx cannot mount anything. */
  required: boolean;
}

/** What a plugin's kmx-doctor hook exports (as default): its checks, never throwing. */
export type DoctorHook = () => DoctorCheck[] | Promise<DoctorCheck[]>;
