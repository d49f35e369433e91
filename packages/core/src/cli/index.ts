export { KmxCommand } from './base-command.js';
export { MountCommand, type MountFlags, type ServeOptions } from './mount-command.js';
export { reportError, type ErrorReport } from './report.js';
export { closest } from './suggest.js';
export { serveMount } from './serve.js';
export { formatTable } from './table.js';
export { existingDirectory, isWithin } from './paths.js';
export { Tour, TOUR_HOOK, type TourOptions } from './tour.js';
export { DOCTOR_HOOK, type DoctorCheck, type DoctorHook } from './doctor.js';
