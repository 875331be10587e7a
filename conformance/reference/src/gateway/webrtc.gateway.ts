import { UseFilters, UseGuards } from '@nestjs/common';
import {
  ConnectedSocket,
  MessageBody,
  OnGatewayConnection,
  OnGatewayDisconnect,
  OnGatewayInit,
  SubscribeMessage,
  WebSocketGateway,
  WebSocketServer,
} from '@nestjs/websockets';
import type { Namespace, Socket } from 'socket.io';
import { config, isOriginAllowed } from '../config.js';
import { AuthService } from './auth.service.js';
import { IceServersService } from './ice-servers.service.js';
import type {
  AnswerPayload,
  CreateRoomPayload,
  IcePayload,
  JoinRoomPayload,
  MediaStateChangedPayload,
  MediaStatePayload,
  OfferPayload,
  OkAck,
  PeerJoinedPayload,
  PeerLeftPayload,
  PongPayload,
  RelayedPayload,
  RoomCreatedPayload,
  RoomJoinedPayload,
  RoomLeftPayload,
  SocketData,
} from './interfaces/index.js';
import {
  AnswerPipe,
  CreateRoomPipe,
  IcePipe,
  JoinRoomPipe,
  MediaStatePipe,
  OfferPipe,
} from './payload.pipes.js';
import { RateLimitGuard } from './rate-limit.guard.js';
import { AppDatabaseService } from './app-database.service.js';
import { type Room, roomIdOf, RoomsService } from './rooms.service.js';
import { emitError, SignalingExceptionFilter } from './signaling-exception.filter.js';
import { SignalingException } from './signaling.exception.js';

const OK: OkAck = Object.freeze({ ok: true });

function dataOf(client: Socket): SocketData {
  return client.data as SocketData;
}

/**
 * WebRTC signalling: room membership, and offers, answers and ICE candidates
 * relayed between the peers of a room.
 *
 * Acks: a handler's return value answers the client's ack callback (NestJS
 * calls it); failures are thrown as `SignalingException` and turned into the
 * error event + error ack by `SignalingExceptionFilter`.
 */
@UseFilters(SignalingExceptionFilter)
@UseGuards(RateLimitGuard)
@WebSocketGateway({
  namespace: '/',
  cors: {
    origin: config.clientUrls,
    credentials: true,
  },
  maxHttpBufferSize: config.maxPayload,
  // Polling requests and WebSocket upgrades from a foreign Origin get 403.
  allowRequest: (req, callback) => {
    const allowed = isOriginAllowed(req.headers.origin);
    callback(allowed ? null : 'Origin not allowed', allowed);
  },
})
export class WebrtcGateway implements OnGatewayInit, OnGatewayConnection, OnGatewayDisconnect {
  @WebSocketServer()
  server!: Namespace;

  constructor(
    private readonly auth: AuthService,
    private readonly rooms: RoomsService,
    private readonly iceServers: IceServersService,
    private readonly appDb: AppDatabaseService,
  ) {}

  afterInit(server: Namespace): void {
    // Authentication happens at the handshake: a refused socket never connects.
    server.use((socket, next) => {
      const refuse = (message: string) => {
        if (config.authFailureAsEvent) {
          dataOf(socket).unauthorized = true;
          dataOf(socket).unauthorizedMessage = message;
          return next();
        }
        next(new Error('Unauthorized'));
      };
      const user = this.auth.authenticate(socket.handshake);
      if (!user) return refuse('Unauthorized');
      if (!this.appDb.enabled) {
        dataOf(socket).user = user;
        return next();
      }
      // The incumbent loaded the user by id; peers see the database's username.
      this.appDb.findUser(user.userId).then(
        (row) => {
          if (!row) return refuse('User not found');
          dataOf(socket).user = { userId: user.userId, username: row.username };
          next();
        },
        () => next(new Error('Service unavailable')),
      );
    });
  }

  handleConnection(client: Socket): void {
    const data = dataOf(client);
    if (data.unauthorized) {
      // AUTH_FAILURE=event: what the incumbent did before handshake refusal.
      emitError(client, {
        code: 'UNAUTHORIZED',
        message: data.unauthorizedMessage ?? 'Unauthorized',
        status: 'error',
        event: 'connection',
      });
      client.disconnect(true);
    }
  }

  handleDisconnect(client: Socket): void {
    this.leaveCurrentRoom(client, false);
  }

  @SubscribeMessage('create:room')
  createRoom(
    @ConnectedSocket() client: Socket,
    @MessageBody(CreateRoomPipe) body: CreateRoomPayload,
  ): RoomCreatedPayload {
    const room = this.rooms.create(body.roomCode, body.maxPeers);
    if (!room) throw SignalingException.of('ROOM_EXISTS');
    const created: RoomCreatedPayload = { roomId: room.roomId, roomCode: room.roomCode };
    client.emit('room:created', created);
    return created;
  }

  @SubscribeMessage('join:room')
  joinRoom(
    @ConnectedSocket() client: Socket,
    @MessageBody(JoinRoomPipe) body: JoinRoomPayload,
  ): RoomJoinedPayload | Promise<RoomJoinedPayload> {
    const roomId = roomIdOf(body.roomCode);
    const room =
      this.rooms.find(roomId) ??
      (config.autoCreateRooms ? this.rooms.create(body.roomCode, undefined) : undefined);
    if (room) return this.enter(client, room);
    if (!this.appDb.enabled) throw SignalingException.of('ROOM_NOT_FOUND');
    // The incumbent checked that the room exists by slug in the database.
    return this.appDb.roomExists(body.roomCode).then((exists) => {
      if (!exists) throw SignalingException.of('ROOM_NOT_FOUND');
      const found = this.rooms.find(roomId) ?? this.rooms.create(body.roomCode, undefined);
      return this.enter(client, found!);
    });
  }

  /** Joins `room` (leaving the current one first): `room:joined`, `peer:joined` to the others. */
  private enter(client: Socket, room: Room): RoomJoinedPayload {
    const roomId = room.roomId;
    const data = dataOf(client);
    const user = data.user!;
    const rejoin = data.roomId === roomId;
    if (!rejoin) {
      if (room.members.size >= room.maxPeers) {
        throw SignalingException.of('ROOM_FULL', config.sfuUrl ? { sfuUrl: config.sfuUrl } : {});
      }
      this.leaveCurrentRoom(client, true);
      this.rooms.addMember(room, client.id, user);
      data.roomId = roomId;
      client.join(roomId);
    }

    const joined: RoomJoinedPayload = {
      roomId,
      roomCode: room.roomCode,
      peerId: client.id,
      peers: this.rooms.peersOf(room, client.id),
      iceServers: this.iceServers.forUser(user.userId),
    };
    client.emit('room:joined', joined);
    if (!rejoin) {
      const peerJoined: PeerJoinedPayload = { peerId: client.id, userInfo: user };
      client.to(roomId).emit('peer:joined', peerJoined);
    }
    return joined;
  }

  @SubscribeMessage('leave:room')
  leaveRoom(@ConnectedSocket() client: Socket): OkAck {
    this.leaveCurrentRoom(client, true);
    return OK;
  }

  @SubscribeMessage('webrtc:offer')
  offer(@ConnectedSocket() client: Socket, @MessageBody(OfferPipe) body: OfferPayload): OkAck {
    return this.relay(client, 'webrtc:offer', {
      fromPeerId: client.id,
      targetPeerId: body.targetPeerId,
      offer: body.offer,
    });
  }

  @SubscribeMessage('webrtc:answer')
  answer(@ConnectedSocket() client: Socket, @MessageBody(AnswerPipe) body: AnswerPayload): OkAck {
    return this.relay(client, 'webrtc:answer', {
      fromPeerId: client.id,
      targetPeerId: body.targetPeerId,
      answer: body.answer,
    });
  }

  @SubscribeMessage('webrtc:ice')
  ice(@ConnectedSocket() client: Socket, @MessageBody(IcePipe) body: IcePayload): OkAck {
    return this.relay(client, 'webrtc:ice', {
      fromPeerId: client.id,
      targetPeerId: body.targetPeerId,
      candidate: body.candidate,
    });
  }

  @SubscribeMessage('media:state')
  mediaState(
    @ConnectedSocket() client: Socket,
    @MessageBody(MediaStatePipe) body: MediaStatePayload,
  ): OkAck {
    const roomId = dataOf(client).roomId;
    if (roomId) {
      const changed: MediaStateChangedPayload = {
        peerId: client.id,
        isVideoEnabled: body.isVideoEnabled,
        isAudioEnabled: body.isAudioEnabled,
      };
      client.to(roomId).emit('media:state_changed', changed);
    }
    return OK;
  }

  @SubscribeMessage('ping')
  ping(@ConnectedSocket() client: Socket): PongPayload {
    const pong: PongPayload = { timestamp: new Date().toISOString() };
    client.emit('pong', pong);
    return pong;
  }

  /** Forwards a relay to its target, which must be another member of the sender's room. */
  private relay(client: Socket, event: string, payload: RelayedPayload): OkAck {
    const roomId = dataOf(client).roomId;
    if (!roomId) throw SignalingException.of('NOT_IN_ROOM');
    const target = payload.targetPeerId;
    if (target === client.id || !this.rooms.find(roomId)?.members.has(target)) {
      throw SignalingException.of('PEER_NOT_FOUND', { targetPeerId: target });
    }
    this.server.to(target).emit(event, payload);
    return OK;
  }

  /**
   * Takes the socket out of its room: `peer:left` to the remaining peers and,
   * unless the socket is gone, `room:left` to it.
   */
  private leaveCurrentRoom(client: Socket, notifySelf: boolean): void {
    const data = dataOf(client);
    const roomId = data.roomId;
    if (!roomId) return;
    data.roomId = undefined;
    this.rooms.removeMember(roomId, client.id);
    client.leave(roomId);
    const left: PeerLeftPayload = { peerId: client.id };
    this.server.to(roomId).emit('peer:left', left);
    if (notifySelf) {
      const roomLeft: RoomLeftPayload = { roomId };
      client.emit('room:left', roomLeft);
    }
  }
}
