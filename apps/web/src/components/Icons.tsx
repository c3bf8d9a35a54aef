/** Small inline SVG icons (decorative: the controls carry text labels). */
import type { ReactNode } from 'react';

function Svg({ children, size = 20 }: { children: ReactNode; size?: number }) {
  return (
    <svg width={size} height={size} viewBox="0 0 24 24" fill="none" stroke="currentColor" strokeWidth="2" strokeLinecap="round" strokeLinejoin="round" aria-hidden="true" focusable="false">
      {children}
    </svg>
  );
}

export const Logo = () => (
  <svg width="40" height="40" viewBox="0 0 64 64" aria-hidden="true" focusable="false">
    <rect width="64" height="64" rx="14" fill="#0f5fa8" />
    <path d="M18 20h28a6 6 0 0 1 6 6v12a6 6 0 0 1-6 6H30l-10 8v-8h-2a6 6 0 0 1-6-6V26a6 6 0 0 1 6-6z" fill="#fff" />
    <path d="M32 26v12M26 32h12" stroke="#0f5fa8" strokeWidth="4" strokeLinecap="round" />
  </svg>
);

export const ChatIcon = () => (
  <Svg>
    <path d="M21 15a2 2 0 0 1-2 2H7l-4 4V5a2 2 0 0 1 2-2h14a2 2 0 0 1 2 2z" />
  </Svg>
);
export const StethoscopeIcon = () => (
  <Svg>
    <path d="M5 3v6a5 5 0 0 0 10 0V3" />
    <path d="M10 14v2a5 5 0 0 0 10 0v-2" />
    <circle cx="20" cy="12" r="2" />
  </Svg>
);
export const BellIcon = () => (
  <Svg>
    <path d="M18 8a6 6 0 0 0-12 0c0 7-3 9-3 9h18s-3-2-3-9" />
    <path d="M13.7 21a2 2 0 0 1-3.4 0" />
  </Svg>
);
export const BackIcon = () => (
  <Svg>
    <path d="M15 18l-6-6 6-6" />
  </Svg>
);
export const SendIcon = () => (
  <Svg>
    <path d="M22 2L11 13" />
    <path d="M22 2l-7 20-4-9-9-4z" />
  </Svg>
);
export const PinIcon = ({ size = 16 }: { size?: number }) => (
  <Svg size={size}>
    <path d="M12 17v5" />
    <path d="M9 3h6l-1 7 4 3v2H6v-2l4-3z" />
  </Svg>
);
export const FileIcon = () => (
  <Svg size={28}>
    <path d="M14 2H6a2 2 0 0 0-2 2v16a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2V8z" />
    <path d="M14 2v6h6" />
  </Svg>
);
export const MicIcon = () => (
  <Svg>
    <rect x="9" y="2" width="6" height="12" rx="3" />
    <path d="M5 10a7 7 0 0 0 14 0M12 19v3" />
  </Svg>
);
export const LinkIcon = () => (
  <Svg size={16}>
    <path d="M10 13a5 5 0 0 0 7.5.5l3-3a5 5 0 0 0-7-7l-1.7 1.7" />
    <path d="M14 11a5 5 0 0 0-7.5-.5l-3 3a5 5 0 0 0 7 7l1.7-1.7" />
  </Svg>
);
export const OfflineIcon = () => (
  <Svg size={18}>
    <path d="M1 1l22 22" />
    <path d="M16.7 11.1A11 11 0 0 1 19 12.6M5 12.6a11 11 0 0 1 5.2-2.5M10.7 5.1A16 16 0 0 1 22.6 9M1.4 9a16 16 0 0 1 4.4-2.7M8.5 16.1a6 6 0 0 1 7 0" />
    <circle cx="12" cy="20" r="1" />
  </Svg>
);
export const ClockIcon = () => (
  <Svg size={14}>
    <circle cx="12" cy="12" r="9" />
    <path d="M12 7v5l3 2" />
  </Svg>
);
export const CheckIcon = ({ double = false }: { double?: boolean }) => (
  <Svg size={14}>
    <path d="M2 12l5 5L18 6" />
    {double && <path d="M9 17l.5.5L22 6" />}
  </Svg>
);
export const AlertIcon = () => (
  <Svg size={14}>
    <circle cx="12" cy="12" r="10" />
    <path d="M12 8v4M12 16h.01" />
  </Svg>
);
