/** The front desk in the web client: the staff console (`/desk`) and its navigation entry. */
export { DeskConsole } from './DeskConsole.tsx';
export { DeskNavLink } from './DeskNav.tsx';
