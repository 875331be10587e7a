import type { UserInfo } from './user-info.interface.js';

/** `create:room` (client → server). */
export interface CreateRoomPayload {
  roomCode?: string;
  maxPeers?: number;
}

/** `join:room` (client → server). */
export interface JoinRoomPayload {
  roomCode: string;
}

/** `room:created` (server → client). */
export interface RoomCreatedPayload {
  roomId: string;
  roomCode: string;
}

export interface PeerDescriptor {
  id: string;
  userInfo: UserInfo;
}

/** An `RTCIceServer`, ready for `new RTCPeerConnection({ iceServers })`. */
export interface IceServer {
  urls: string[];
  username?: string;
  credential?: string;
}

/** `room:joined` (server → client). */
export interface RoomJoinedPayload {
  roomId: string;
  roomCode: string;
  peerId: string;
  peers: PeerDescriptor[];
  iceServers: IceServer[];
}

/** `room:left` (server → client). */
export interface RoomLeftPayload {
  roomId: string;
}

/** `peer:joined` (server → client). */
export interface PeerJoinedPayload {
  peerId: string;
  userInfo: UserInfo;
}

/** `peer:left` (server → client). */
export interface PeerLeftPayload {
  peerId: string;
}
