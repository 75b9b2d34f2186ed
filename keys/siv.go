package keys

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"errors"
	"fmt"
	"slices"
	"sync"
)

// sivKeySize is the deterministic mode's key: AES-SIV (RFC 5297) with a
// 512-bit key, 256 bits for S2V's CMAC and 256 for CTR.
const sivKeySize = 64

// aesSIV is AES-SIV as RFC 5297 defines it, with one associated-data
// component: the deterministic mode's cipher. Cells written by earlier
// releases (which used Tink's implementation of the same construction)
// open unchanged; TestAESSIVWycheproof and TestAESSIVMatchesTink hold it
// to that. It keeps both AES key schedules, the CMAC subkeys and S2V's
// first block, which depend only on the key, so that sealing or opening
// a cell allocates only its output: a deterministic column's every Bind
// and every read pays this, and building a cipher per call was a third of
// a protected session's garbage.
type aesSIV struct {
	mac, ctr cipher.Block
	// k1, k2 are CMAC's subkeys (RFC 4493 2.3); d0 is dbl(CMAC(zero
	// block)), S2V's value before any component.
	k1, k2, d0 [aes.BlockSize]byte
}

func newAESSIV(key []byte) (*aesSIV, error) {
	if len(key) != sivKeySize {
		return nil, fmt.Errorf("aes-siv: key must be %d bytes", sivKeySize)
	}
	mac, err := aes.NewCipher(key[:32])
	if err != nil {
		return nil, err
	}
	ctr, err := aes.NewCipher(key[32:])
	if err != nil {
		return nil, err
	}
	s := &aesSIV{mac: mac, ctr: ctr}
	var l [aes.BlockSize]byte
	mac.Encrypt(l[:], l[:])
	s.k1 = double(l)
	s.k2 = double(s.k1)
	var zero [aes.BlockSize]byte
	s.d0 = double(s.cmac(&sivBlocks{}, zero[:], nil))
	return s, nil
}

// double multiplies a block by x in GF(2^128) (RFC 5297's dbl), in
// constant time.
func double(b [aes.BlockSize]byte) [aes.BlockSize]byte {
	var out [aes.BlockSize]byte
	carry := b[0] >> 7
	for i := 0; i < aes.BlockSize-1; i++ {
		out[i] = b[i]<<1 | b[i+1]>>7
	}
	out[aes.BlockSize-1] = b[aes.BlockSize-1]<<1 ^ byte(subtle.ConstantTimeSelect(int(carry), 0x87, 0))
	return out
}

// cmac is AES-CMAC (RFC 4493) of msg under the MAC key; when xorEnd is
// set, of msg with its last 16 bytes XORed with it (S2V's "xorend"; msg
// is then at least 16 bytes), without changing msg.
func (s *aesSIV) cmac(w *sivBlocks, msg []byte, xorEnd *[aes.BlockSize]byte) [aes.BlockSize]byte {
	// byteAt is msg's i-th byte as CMAC sees it.
	end := len(msg) - aes.BlockSize
	byteAt := func(i int) byte {
		if xorEnd != nil && i >= end {
			return msg[i] ^ xorEnd[i-end]
		}
		return msg[i]
	}
	x := &w.x
	*x = [aes.BlockSize]byte{}
	n := len(msg)
	// All blocks but the last, which is complete unless msg is empty or
	// its length is not a multiple of 16.
	last := 0
	if n > 0 {
		last = (n - 1) / aes.BlockSize * aes.BlockSize
	}
	for off := 0; off < last; off += aes.BlockSize {
		if xorEnd == nil || off+aes.BlockSize <= end {
			subtle.XORBytes(x[:], x[:], msg[off:off+aes.BlockSize])
		} else {
			for i := range aes.BlockSize {
				x[i] ^= byteAt(off + i)
			}
		}
		s.mac.Encrypt(x[:], x[:])
	}
	rest := n - last
	subkey := &s.k1
	if rest < aes.BlockSize {
		subkey = &s.k2
	}
	for i := range aes.BlockSize {
		var m byte
		switch {
		case i < rest:
			m = byteAt(last + i)
		case i == rest:
			m = 0x80 // padding of an incomplete last block
		}
		x[i] ^= m ^ subkey[i]
	}
	s.mac.Encrypt(x[:], x[:])
	return *x
}

// s2v is RFC 5297's S2V over the components (ad, plaintext).
func (s *aesSIV) s2v(w *sivBlocks, ad, plaintext []byte) [aes.BlockSize]byte {
	d := s.d0
	adMAC := s.cmac(w, ad, nil)
	subtle.XORBytes(d[:], d[:], adMAC[:])
	if len(plaintext) >= aes.BlockSize {
		return s.cmac(w, plaintext, &d)
	}
	t := double(d)
	subtle.XORBytes(t[:], t[:], plaintext)
	t[len(plaintext)] ^= 0x80
	return s.cmac(w, t[:], nil)
}

// xorCTR XORs in with AES-CTR's key stream from the synthetic IV v (with
// the two bits RFC 5297 clears) into out.
func (s *aesSIV) xorCTR(w *sivBlocks, v [aes.BlockSize]byte, out, in []byte) {
	ctr, ks := &w.ctr, &w.ks
	*ctr = v
	ctr[8] &= 0x7f
	ctr[12] &= 0x7f
	for len(in) > 0 {
		s.ctr.Encrypt(ks[:], ctr[:])
		n := subtle.XORBytes(out, in, ks[:])
		out, in = out[n:], in[n:]
		for i := aes.BlockSize - 1; i >= 0; i-- { // big-endian increment
			ctr[i]++
			if ctr[i] != 0 {
				break
			}
		}
	}
}

// sivBlocks are the blocks cmac and xorCTR hand to cipher.Block: through
// its interface they escape, and as locals each call allocated them (five
// allocations a cell). One pooled set per seal or open instead.
type sivBlocks struct{ x, ctr, ks [aes.BlockSize]byte }

var sivBlockPool = sync.Pool{New: func() any { return new(sivBlocks) }}

func getSIVBlocks() *sivBlocks { return sivBlockPool.Get().(*sivBlocks) }

// putSIVBlocks clears the blocks (a key stream block, CMAC state) before
// they go back to the pool.
func putSIVBlocks(w *sivBlocks) {
	*w = sivBlocks{}
	sivBlockPool.Put(w)
}

// seal returns V || C.
func (s *aesSIV) seal(plaintext, ad []byte) []byte {
	return s.sealAppend(nil, plaintext, ad)
}

// sealAppend appends V || C to dst.
func (s *aesSIV) sealAppend(dst, plaintext, ad []byte) []byte {
	w := getSIVBlocks()
	defer putSIVBlocks(w)
	v := s.s2v(w, ad, plaintext)
	dst = append(dst, v[:]...)
	n := len(dst)
	dst = slices.Grow(dst, len(plaintext))[:n+len(plaintext)]
	s.xorCTR(w, v, dst[n:], plaintext)
	return dst
}

var errSIV = errors.New("aes-siv: message authentication failed")

// open checks and decrypts V || C.
func (s *aesSIV) open(body, ad []byte) ([]byte, error) {
	return s.openInto(nil, body, ad)
}

// openInto is open appending the plaintext to dst.
func (s *aesSIV) openInto(dst, body, ad []byte) ([]byte, error) {
	if len(body) < aes.BlockSize {
		return nil, errSIV
	}
	var v [aes.BlockSize]byte
	copy(v[:], body)
	out := slices.Grow(dst, len(body)-aes.BlockSize)
	pt := out[len(dst) : len(dst)+len(body)-aes.BlockSize]
	w := getSIVBlocks()
	defer putSIVBlocks(w)
	s.xorCTR(w, v, pt, body[aes.BlockSize:])
	want := s.s2v(w, ad, pt)
	if subtle.ConstantTimeCompare(want[:], v[:]) != 1 {
		clear(pt)
		return nil, errSIV
	}
	return out[:len(dst)+len(pt)], nil
}
