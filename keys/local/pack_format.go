package local

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
)

// A pack file, <keyring>.subjects/pack-NNNNNN, holds many subject keys in
// fixed-size records, so that creating a key costs a few bytes appended to
// an open file instead of a new inode (docs/shredding.md, BENCHMARKS.md).
//
// Layout (version 1), every part packRecordSize bytes long and aligned to
// it, so a record never straddles a 512-byte sector:
//
//	header: "phiguard-subject-pack\x00" | version uint16 | record size uint16 | zeros
//	record: flags uint8 | wrapped length uint8 | 0 uint16 | tag [16] |
//	        wrapped [packWrappedMax] | 0 uint32 | CRC-32C of bytes 0..123 uint32
//
// Integers are big-endian. flags is packLive or packShredded; a shredded
// record's length and wrapped bytes are zero. A record whose checksum
// fails (a write torn by a crash) is ignored: its batch never returned.
const (
	packMagic      = "phiguard-subject-pack\x00"
	packVersion    = 1
	packRecordSize = 128
	packWrappedMax = 100
	packMaxRecords = 1 << 16 // 8 MiB per pack, then the next pack

	packLive     = 1
	packShredded = 2

	offTag     = 4
	offWrapped = offTag + 16
	offCRC     = packRecordSize - 4
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// packRecord is one decoded record.
type packRecord struct {
	tag      string
	shredded bool
	wrapped  []byte
}

func packHeader() []byte {
	h := make([]byte, packRecordSize)
	copy(h, packMagic)
	binary.BigEndian.PutUint16(h[len(packMagic):], packVersion)
	binary.BigEndian.PutUint16(h[len(packMagic)+2:], packRecordSize)
	return h
}

func checkPackHeader(h []byte) error {
	if len(h) < packRecordSize || string(h[:len(packMagic)]) != packMagic {
		return errors.New("not a phiguard subject key pack")
	}
	if v := binary.BigEndian.Uint16(h[len(packMagic):]); v != packVersion {
		return fmt.Errorf("subject key pack version %d, this phiguard reads %d", v, packVersion)
	}
	if s := binary.BigEndian.Uint16(h[len(packMagic)+2:]); s != packRecordSize {
		return fmt.Errorf("subject key pack record size %d, want %d", s, packRecordSize)
	}
	return nil
}

// encodeRecord writes rec into b (packRecordSize bytes).
func encodeRecord(b []byte, rec packRecord) error {
	clear(b[:packRecordSize])
	raw, err := hex.DecodeString(rec.tag)
	if err != nil || len(raw) != 16 {
		return fmt.Errorf("local: %q is not a subject tag", rec.tag)
	}
	if len(rec.wrapped) > packWrappedMax {
		return fmt.Errorf("local: wrapped subject key of %d bytes, a pack record holds %d", len(rec.wrapped), packWrappedMax)
	}
	b[0] = packLive
	if rec.shredded {
		b[0] = packShredded
	} else {
		b[1] = byte(len(rec.wrapped))
		copy(b[offWrapped:], rec.wrapped)
	}
	copy(b[offTag:], raw)
	binary.BigEndian.PutUint32(b[offCRC:], crc32.Checksum(b[:offCRC], castagnoli))
	return nil
}

// decodeRecord reads one record; ok is false when its checksum or flags
// are wrong (torn, never completed, or damaged).
func decodeRecord(b []byte) (rec packRecord, ok bool) {
	if len(b) < packRecordSize || crc32.Checksum(b[:offCRC], castagnoli) != binary.BigEndian.Uint32(b[offCRC:]) {
		return rec, false
	}
	n := int(b[1])
	switch {
	case b[0] == packShredded && n == 0:
		rec.shredded = true
	case b[0] == packLive && n <= packWrappedMax:
		rec.wrapped = append([]byte(nil), b[offWrapped:offWrapped+n]...)
	default:
		return rec, false
	}
	rec.tag = hex.EncodeToString(b[offTag : offTag+16])
	return rec, true
}
