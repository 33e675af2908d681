// The GOAWAY frame (RFC 9113 §6.8) the proxy writes itself when it ends a connection for a
// limit or protocol error: written straight to the socket, so it is the last frame the
// client reads whatever state the HTTP/2 session is in (it may not have seen the preface).

export function goawayFrame(lastStreamId: number, errorCode: number): Buffer {
  const b = Buffer.alloc(17);
  b.writeUIntBE(8, 0, 3);
  b[3] = 0x7;
  b.writeUInt32BE(lastStreamId & 0x7fffffff, 9);
  b.writeUInt32BE(errorCode >>> 0, 13);
  return b;
}
