import { Injectable, OnModuleDestroy } from '@nestjs/common';
import { randomInt } from 'node:crypto';
import { config } from '../config.js';
import type { PeerDescriptor, UserInfo } from './interfaces/index.js';

export interface Room {
  roomId: string;
  /** The code as it was created (ids are case-insensitive, codes keep their case). */
  roomCode: string;
  maxPeers: number;
  /** Socket id → user, in join order. */
  members: Map<string, UserInfo>;
  /** When the room last became empty (creation counts), or null while occupied. */
  emptySince: number | null;
}

export const ROOM_CODE_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
const CODE_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const GENERATED_CODE_LENGTH = 12;

export function roomIdOf(roomCode: string): string {
  return `room_${roomCode.toLowerCase()}`;
}

/** The in-memory room registry of one gateway node. */
@Injectable()
export class RoomsService implements OnModuleDestroy {
  private readonly rooms = new Map<string, Room>();
  private readonly sweeper = setInterval(
    () => this.sweep(),
    Math.max(1_000, Math.min(config.roomTtlMs, 60_000)),
  ).unref();

  onModuleDestroy(): void {
    clearInterval(this.sweeper);
  }

  /** A live room, or undefined; a room empty for longer than ROOM_TTL is dropped here. */
  find(roomId: string): Room | undefined {
    const room = this.rooms.get(roomId);
    if (room && this.isExpired(room, Date.now())) {
      this.rooms.delete(roomId);
      return undefined;
    }
    return room;
  }

  /** Creates a room; returns undefined if the code is in use. */
  create(roomCode: string | undefined, maxPeers: number | undefined): Room | undefined {
    const code = roomCode ?? this.freshCode();
    const roomId = roomIdOf(code);
    if (this.find(roomId)) return undefined;
    const room: Room = {
      roomId,
      roomCode: code,
      maxPeers: Math.min(maxPeers ?? config.maxRoomSize, config.maxRoomSize),
      members: new Map(),
      emptySince: Date.now(),
    };
    this.rooms.set(roomId, room);
    return room;
  }

  /** The members of a room except `exceptId`, in join order. */
  peersOf(room: Room, exceptId: string): PeerDescriptor[] {
    const peers: PeerDescriptor[] = [];
    for (const [id, userInfo] of room.members) {
      if (id !== exceptId) peers.push({ id, userInfo });
    }
    return peers;
  }

  addMember(room: Room, socketId: string, user: UserInfo): void {
    room.members.set(socketId, user);
    room.emptySince = null;
  }

  removeMember(roomId: string, socketId: string): void {
    const room = this.rooms.get(roomId);
    if (!room || !room.members.delete(socketId)) return;
    if (room.members.size === 0) room.emptySince = Date.now();
  }

  private isExpired(room: Room, now: number): boolean {
    return room.emptySince !== null && now - room.emptySince >= config.roomTtlMs;
  }

  private sweep(): void {
    const now = Date.now();
    for (const [roomId, room] of this.rooms) {
      if (this.isExpired(room, now)) this.rooms.delete(roomId);
    }
  }

  // 12 characters (36^12, 62 bits), not the incumbent's 6: a code is all it
  // takes to join a room, and 36^6 can be scanned in days (docs/WIRE-DETAILS.md).
  private freshCode(): string {
    for (;;) {
      let code = '';
      for (let i = 0; i < GENERATED_CODE_LENGTH; i++) code += CODE_ALPHABET[randomInt(CODE_ALPHABET.length)];
      if (!this.find(roomIdOf(code))) return code;
    }
  }
}
