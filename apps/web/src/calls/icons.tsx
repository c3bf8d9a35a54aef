/** The call screens' icons (decorative: the controls carry text labels). */
import type { ReactNode } from 'react';

function Svg({ children, size = 20 }: { children: ReactNode; size?: number }) {
  return (
    <svg width={size} height={size} viewBox="0 0 24 24" fill="none" stroke="currentColor" strokeWidth="2" strokeLinecap="round" strokeLinejoin="round" aria-hidden="true" focusable="false">
      {children}
    </svg>
  );
}

const HANDSET = 'M22 16.9v3a2 2 0 0 1-2.2 2 19.8 19.8 0 0 1-8.6-3.1 19.5 19.5 0 0 1-6-6A19.8 19.8 0 0 1 2.1 4.2 2 2 0 0 1 4.1 2h3a2 2 0 0 1 2 1.7c.1.9.4 1.8.7 2.7a2 2 0 0 1-.5 2.1L8 9.8a16 16 0 0 0 6 6l1.3-1.3a2 2 0 0 1 2.1-.4c.9.3 1.8.6 2.7.7a2 2 0 0 1 1.7 2z';

export const PhoneIcon = ({ size }: { size?: number }) => (
  <Svg size={size}>
    <path d={HANDSET} />
  </Svg>
);
export const HangupIcon = ({ size }: { size?: number }) => (
  <Svg size={size}>
    <g transform="rotate(135 12 12)">
      <path d={HANDSET} />
    </g>
  </Svg>
);
export const VideoIcon = ({ size }: { size?: number }) => (
  <Svg size={size}>
    <path d="M23 7l-7 5 7 5V7z" />
    <rect x="1" y="5" width="15" height="14" rx="2" />
  </Svg>
);
export const VideoOffIcon = ({ size }: { size?: number }) => (
  <Svg size={size}>
    <path d="M16 16v1a2 2 0 0 1-2 2H3a2 2 0 0 1-2-2V7a2 2 0 0 1 2-2h2m5 0h4a2 2 0 0 1 2 2v3.3l1 1L23 7v10" />
    <path d="M1 1l22 22" />
  </Svg>
);
export const MicIcon = ({ size }: { size?: number }) => (
  <Svg size={size}>
    <path d="M12 1a3 3 0 0 0-3 3v8a3 3 0 0 0 6 0V4a3 3 0 0 0-3-3z" />
    <path d="M19 10v2a7 7 0 0 1-14 0v-2M12 19v4M8 23h8" />
  </Svg>
);
export const MicOffIcon = ({ size }: { size?: number }) => (
  <Svg size={size}>
    <path d="M1 1l22 22M9 9v3a3 3 0 0 0 5.1 2.1M15 9.3V4a3 3 0 0 0-5.9-.6" />
    <path d="M17 16.9A7 7 0 0 1 5 12v-2m14 0v2c0 .8-.1 1.5-.4 2.2M12 19v4M8 23h8" />
  </Svg>
);
