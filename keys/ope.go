package keys

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"fmt"
)

// opeKeySize is the order term's key: AES-256.
const opeKeySize = 32

// opeEncode is the order term's per-byte, prefix-keyed order-preserving
// encoding (docs/design/search-terms.md §4.4). Byte i of s becomes the
// uint16 o_i = x_i + Σ_{j=0..x_i} g_j, where the g_j are the bytes of
// AES_{k_i}(0x00 | ⌊j/16⌋ | 0¹⁴) and k_{i+1} = AES_{k_i}(0x01 | x_i | 0¹⁴) ||
// AES_{k_i}(0x02 | x_i | 0¹⁴); k_0 is the column's order key, whose cipher
// first holds.
//
// Why it preserves order: o_i grows by 1 + g ≥ 1 with each step of x_i, and
// k_i depends only on the bytes before i, so two outputs first differ at the
// byte where the two inputs first differ, in the same direction. The result
// is 2·len(s) bytes, compared by memcmp.
//
// Cost per byte: one AES key expansion and 3 to 18 block encryptions (the
// last byte needs no next key). k_i is keyed by the bytes before i, a
// plaintext's prefix: no k_i but k_0 is kept after a call.
//
// The output and the scratch blocks share one allocation: the blocks go
// through cipher.Block's interface, so they escape to the heap anyway,
// and an order term is computed for each order constant of each Parse.
// The scratch (keystream and next key) is cleared before return; the
// output's capacity ends where it does.
func opeEncode(first cipher.Block, s []byte) ([]byte, error) {
	n := 2 * len(s)
	buf := make([]byte, n+2*aes.BlockSize+opeKeySize)
	out := buf[:n:n]
	scratch := buf[n:]
	defer clear(scratch)
	in := (*[aes.BlockSize]byte)(scratch[:aes.BlockSize])
	ks := (*[aes.BlockSize]byte)(scratch[aes.BlockSize : 2*aes.BlockSize])
	next := scratch[2*aes.BlockSize:]
	blk := first
	for i, x := range s {
		binary.BigEndian.PutUint16(out[2*i:], opeStep(blk, x, in, ks))
		if i == len(s)-1 {
			break
		}
		*in = [aes.BlockSize]byte{0x01, x}
		blk.Encrypt(next[:16], in[:])
		*in = [aes.BlockSize]byte{0x02, x}
		blk.Encrypt(next[16:], in[:])
		var err error
		if blk, err = aes.NewCipher(next); err != nil {
			return nil, fmt.Errorf("keys: order term: %w", err)
		}
	}
	return out, nil
}

// opeStep is o_i for the byte x under the cipher of k_i: x plus the
// first x+1 bytes of the keystream AES_{k_i}(0x00 | q | 0¹⁴), q = 0, 1, ...
// The largest value, 255 + 256·255, is 65535.
func opeStep(blk cipher.Block, x byte, in, ks *[aes.BlockSize]byte) uint16 {
	sum := uint64(x)
	last := int(x) / aes.BlockSize
	for q := 0; q < last; q++ {
		*in = [aes.BlockSize]byte{0x00, byte(q)}
		blk.Encrypt(ks[:], in[:])
		sum += byteSum(binary.LittleEndian.Uint64(ks[:8])) + byteSum(binary.LittleEndian.Uint64(ks[8:]))
	}
	*in = [aes.BlockSize]byte{0x00, byte(last)}
	blk.Encrypt(ks[:], in[:])
	for _, g := range ks[:int(x)%aes.BlockSize+1] {
		sum += uint64(g)
	}
	return uint16(sum)
}

// byteSum adds the 8 bytes of w: pairs into 16-bit lanes, then the lanes
// gathered into the top 16 bits by one multiplication (at most 8·255).
func byteSum(w uint64) uint64 {
	const lanes = 0x00ff00ff00ff00ff
	w = w&lanes + w>>8&lanes
	return w * 0x0001000100010001 >> 48
}
