/** Who a peer is, taken from its credential. */
export interface UserInfo {
  userId: string;
  username: string;
}

/** What the gateway keeps on `socket.data`. */
export interface SocketData {
  user?: UserInfo;
  /** Set when the handshake carried no valid credential (AUTH_FAILURE=event only). */
  unauthorized?: boolean;
  /** What the error event says then: `Unauthorized`, or `User not found` (APP_DATABASE_URL). */
  unauthorizedMessage?: string;
  roomId?: string;
  rateLimit?: { tokens: number; updatedAt: number };
}
