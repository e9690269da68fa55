/**
 * The IPC messages between the soak (bench/soak/soak.ts) and its two load processes: RTP calls
 * (rtp-calls.ts) and Twilio WebSocket calls (ws-calls.ts). The soak decides when each call
 * starts and ends; a load process only sends media and counts the 20 ms frames it sent, which is
 * the media time every expected window is computed from.
 */

export interface RtpCallTarget {
  kind: 'rtp';
  address: string;
  port: number;
  payloadType: number;
}

export interface WsCallTarget {
  kind: 'ws';
  /** ws://host:port/media/twilio */
  url: string;
  token: string;
  callSid: string;
}

export type LoadCommand =
  | { op: 'start'; id: number; file: number; target: RtpCallTarget | WsCallTarget }
  /** End a call: RTP stops sending; WebSocket sends `stop` and waits for the server's close. */
  | { op: 'stop'; id: number }
  | { op: 'report'; req: number }
  | { op: 'exit' };

export interface LoadReport {
  op: 'report';
  req: number;
  /** [call id, frames sent so far] for every live call. */
  live: Array<[number, number]>;
  /** Lateness of frames sent since the last report (ms behind their schedule). */
  lateP99Ms: number;
  lateMaxMs: number;
  sendErrors: number;
}

export type LoadReply =
  | { op: 'ready' }
  /** The call sends media from now on (WebSocket: connected and `start` sent). */
  | { op: 'started'; id: number }
  /** The call never started (e.g. the WebSocket upgrade failed). */
  | { op: 'failed'; id: number; why: string }
  /**
   * The call ended: after a `stop` command, or by itself (`closeCode` other than 1000: the server
   * closed the WebSocket). `frames`: 20 ms frames sent in all.
   */
  | { op: 'ended'; id: number; frames: number; requested: boolean; closeCode?: number; closeReason?: string }
  | LoadReport;

/** Speech files, shared by both load processes (indices in LoadCommand.file). */
export interface LoadSetup {
  files: string[];
}
