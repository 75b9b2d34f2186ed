package proxy

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"sync"
)

// A client cancels a running query by opening a new connection and sending
// the process id and secret it was given at startup. phiguard never hands
// out the backend's own pair: each session gets a proxy-issued pair, and
// the registry maps it back to the backend's. That keeps backend secrets
// away from clients and lets a cancel reach the one backend connection that
// belongs to the session, whichever backend that is.

// cancelTarget is the backend's key for one session.
type cancelTarget struct {
	backendPID    uint32
	backendSecret []byte
	proxySecret   []byte
}

type cancelRegistry struct {
	mu sync.Mutex
	m  map[uint32]*cancelTarget
}

func newCancelRegistry() *cancelRegistry {
	return &cancelRegistry{m: make(map[uint32]*cancelTarget)}
}

// register issues a proxy key for a backend key. The proxy secret has the
// backend secret's length, so a protocol 3.2 client that negotiated longer
// keys gets one of the length it expects.
func (r *cancelRegistry) register(backendPID uint32, backendSecret []byte) (pid uint32, secret []byte) {
	t := &cancelTarget{
		backendPID:    backendPID,
		backendSecret: append([]byte(nil), backendSecret...),
		proxySecret:   make([]byte, len(backendSecret)),
	}
	mustRandom(t.proxySecret)
	r.mu.Lock()
	defer r.mu.Unlock()
	for {
		var b [4]byte
		mustRandom(b[:])
		pid = binary.BigEndian.Uint32(b[:]) & 0x7fffffff // positive, like a real pid
		if _, taken := r.m[pid]; !taken && pid != 0 {
			break
		}
	}
	r.m[pid] = t
	return pid, t.proxySecret
}

// lookup returns the target for a proxy key, comparing secrets in constant
// time so a client cannot guess another session's secret byte by byte.
func (r *cancelRegistry) lookup(pid uint32, secret []byte) (*cancelTarget, bool) {
	r.mu.Lock()
	t, ok := r.m[pid]
	r.mu.Unlock()
	if !ok || subtle.ConstantTimeCompare(t.proxySecret, secret) != 1 {
		return nil, false
	}
	return t, true
}

func (r *cancelRegistry) remove(pid uint32) {
	r.mu.Lock()
	delete(r.m, pid)
	r.mu.Unlock()
}

func mustRandom(b []byte) {
	if _, err := rand.Read(b); err != nil {
		panic("BUG: crypto/rand failed: " + err.Error())
	}
}

// cancelRequestPacket builds the untyped CancelRequest packet for a backend.
func cancelRequestPacket(t *cancelTarget) []byte {
	pkt := make([]byte, 12+len(t.backendSecret))
	binary.BigEndian.PutUint32(pkt[0:4], uint32(len(pkt)))
	binary.BigEndian.PutUint32(pkt[4:8], codeCancelRequest)
	binary.BigEndian.PutUint32(pkt[8:12], t.backendPID)
	copy(pkt[12:], t.backendSecret)
	return pkt
}
