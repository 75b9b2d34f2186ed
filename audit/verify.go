package audit

import (
	"bufio"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"

	"github.com/phiguard/phiguard/keys"
)

// KeyFunc returns the chain key named by an audit_start record. A file set
// that does not begin with an audit_start asks for ("", 0): the current key.
type KeyFunc func(keyID string, version uint32) (keys.Secret, error)

// StaticKey is a KeyFunc that returns k for every key id and version.
func StaticKey(k keys.Secret) KeyFunc {
	return func(string, uint32) (keys.Secret, error) { return k, nil }
}

// Problem kinds.
const (
	Altered   = "altered"   // the record's MAC or chain link does not check, or it is not a record
	Inserted  = "inserted"  // a record the chain skips over (forged, or a replayed copy)
	Deleted   = "deleted"   // records missing before this one
	Reordered = "reordered" // this record is out of sequence; the missing one comes later
	Truncated = "truncated" // the file ends inside a record
)

// Problem is the first record that breaks the chain.
type Problem struct {
	Kind   string
	File   string
	Line   int    // 1-based
	Seq    uint64 // the record's seq, when it could be read
	Detail string
}

func (p *Problem) Error() string {
	s := fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Kind)
	if p.Seq > 0 {
		s += fmt.Sprintf(" (seq %d)", p.Seq)
	}
	return s + ": " + p.Detail
}

// VerifyResult is the outcome of Verify.
type VerifyResult struct {
	Records           int
	FirstSeq, LastSeq uint64
	// Anchored: the first record is the audit_start of a new log, so no
	// earlier record can be missing. When false the files begin in the
	// middle of a chain (older files were not given, or were removed).
	Anchored bool
	// Ended: the last record is an audit_stop, so the log was closed
	// cleanly and nothing after it can be missing. When false the newest
	// file is still being written, the proxy crashed, or it was cut at a
	// record boundary.
	Ended bool
	// Chains counts audit_start records (one per start of the proxy).
	Chains int
	// Checkpoint is the checkpoint VerifyCheckpoint compared the log
	// with; nil for Verify, or when the store held none.
	Checkpoint *Checkpoint
	Problem    *Problem // nil when every record checks
}

// OK reports whether no record was found broken.
func (r VerifyResult) OK() bool { return r.Problem == nil }

type header struct {
	Seq        uint64 `json:"seq"`
	Event      string `json:"event"`
	KeyID      string `json:"key_id"`
	KeyVersion uint32 `json:"key_version"`
	PrevMAC    string `json:"prev_mac"`
	MAC        string `json:"mac"`
}

// rawLine is one line read from the file set.
type rawLine struct {
	file  string
	line  int
	b     []byte // without the newline
	torn  bool   // no newline at the end of the file
	hdr   header
	hdrOK bool
}

// lineReader reads the lines of several files in order, with lookahead.
type lineReader struct {
	files []string
	fi    int
	f     *os.File
	r     *bufio.Reader
	line  int
	ahead []*rawLine
}

func (lr *lineReader) read() (*rawLine, error) {
	for {
		if lr.r == nil {
			if lr.fi >= len(lr.files) {
				return nil, io.EOF
			}
			f, err := os.Open(lr.files[lr.fi])
			if err != nil {
				return nil, fmt.Errorf("audit: %w", err)
			}
			lr.f, lr.r, lr.line = f, bufio.NewReaderSize(f, 1<<20), 0
		}
		b, err := lr.r.ReadBytes('\n')
		if len(b) > 0 {
			lr.line++
			l := &rawLine{file: lr.files[lr.fi], line: lr.line}
			if b[len(b)-1] == '\n' {
				l.b = b[:len(b)-1]
			} else {
				l.b, l.torn = b, true
			}
			l.hdrOK = json.Unmarshal(l.b, &l.hdr) == nil
			return l, nil
		}
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("audit: read %s: %w", lr.files[lr.fi], err)
		}
		lr.f.Close()
		lr.r = nil
		lr.fi++
	}
}

func (lr *lineReader) next() (*rawLine, error) {
	if len(lr.ahead) > 0 {
		l := lr.ahead[0]
		lr.ahead = lr.ahead[1:]
		return l, nil
	}
	return lr.read()
}

// peek returns the i-th line after the current one, nil at the end.
func (lr *lineReader) peek(i int) (*rawLine, error) {
	for len(lr.ahead) <= i {
		l, err := lr.read()
		if err == io.EOF {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		lr.ahead = append(lr.ahead, l)
	}
	return lr.ahead[i], nil
}

func (lr *lineReader) close() {
	if lr.f != nil {
		lr.f.Close()
	}
}

// Verify checks the HMAC chain through files, given in chain order (see
// Files), and returns the record count or the first broken record. The
// error is for files that cannot be read and keys that cannot be had.
func Verify(key KeyFunc, files ...string) (VerifyResult, error) {
	res, _, err := verifyChain(key, 0, files)
	return res, err
}

// position is where verifyChain saw a record: the record at the watched
// seq, and the last one.
type position struct {
	file      string
	line      int
	mac       string
	found     bool // the watched seq was in the files
	lastFile  string
	lastLine  int
	lastFound bool
}

// verifyChain is Verify, also noting the record at seq watch (0: none).
func verifyChain(key KeyFunc, watch uint64, files []string) (VerifyResult, position, error) {
	lr := &lineReader{files: files}
	defer lr.close()
	var (
		pos     position
		res     VerifyResult
		h       hash.Hash
		prevSeq uint64
		prevMAC string
		first   = true
		lastEv  string
	)
	useKey := func(id string, v uint32) error {
		k, err := key(id, v)
		if err != nil {
			return fmt.Errorf("audit: key %q version %d: %w", id, v, err)
		}
		raw := k.Expose()
		defer clear(raw)
		h = hmac.New(sha256.New, raw)
		return nil
	}
	for {
		l, err := lr.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return res, pos, err
		}
		fail := func(kind, detail string) (VerifyResult, position, error) {
			res.Problem = &Problem{Kind: kind, File: l.file, Line: l.line, Seq: l.hdr.Seq, Detail: detail}
			return res, pos, nil
		}
		if l.torn {
			return fail(Truncated, fmt.Sprintf("the file ends inside a record (%d bytes without a newline)", len(l.b)))
		}
		content, mac, ok := splitLine(l.b)
		if !ok || !l.hdrOK || l.hdr.Seq == 0 || l.hdr.MAC != mac {
			if nl, _ := lr.peek(0); nl != nil && !first && nl.hdrOK && nl.hdr.PrevMAC == prevMAC && nl.hdr.Seq == prevSeq+1 {
				return fail(Inserted, "a line that is not a sealed record sits between two linked records")
			}
			return fail(Altered, "not a sealed audit record")
		}
		if l.hdr.Event == EventAuditStart {
			if err := useKey(l.hdr.KeyID, l.hdr.KeyVersion); err != nil {
				return res, pos, err
			}
			res.Chains++
		} else if h == nil {
			if err := useKey("", 0); err != nil {
				return res, pos, err
			}
		}
		if !hmac.Equal([]byte(macOf(h, content)), []byte(mac)) {
			if nl, _ := lr.peek(0); nl != nil && !first && nl.hdrOK && nl.hdr.PrevMAC == prevMAC && nl.hdr.Seq == prevSeq+1 {
				return fail(Inserted, "the MAC does not check and the next record links to the one before: a forged record")
			}
			return fail(Altered, "the MAC does not match the record's content")
		}
		seq := l.hdr.Seq
		if first {
			res.FirstSeq = seq
			res.Anchored = l.hdr.Event == EventAuditStart && l.hdr.PrevMAC == ""
			first = false
		} else {
			switch {
			case seq == prevSeq+1:
				if l.hdr.PrevMAC != prevMAC {
					return fail(Altered, fmt.Sprintf("prev_mac does not match the MAC of seq %d before it", prevSeq))
				}
			case seq <= prevSeq:
				if seq == prevSeq || l.hdr.MAC == prevMAC {
					return fail(Inserted, fmt.Sprintf("a second copy of seq %d", seq))
				}
				return fail(Reordered, fmt.Sprintf("seq %d comes after seq %d", seq, prevSeq))
			default:
				want := prevSeq + 1
				later, err := seqComesLater(lr, want)
				if err != nil {
					return res, pos, err
				}
				if later {
					return fail(Reordered, fmt.Sprintf("expected seq %d here; it comes later", want))
				}
				if want == seq-1 {
					return fail(Deleted, fmt.Sprintf("seq %d is missing before this record", want))
				}
				return fail(Deleted, fmt.Sprintf("seq %d to %d are missing before this record", want, seq-1))
			}
		}
		prevSeq, prevMAC, lastEv = seq, mac, l.hdr.Event
		res.Records++
		res.LastSeq = seq
		if seq == watch {
			pos.file, pos.line, pos.mac, pos.found = l.file, l.line, mac, true
		}
		pos.lastFile, pos.lastLine, pos.lastFound = l.file, l.line, true
	}
	res.Ended = lastEv == EventAuditStop
	return res, pos, nil
}

// seqComesLater scans ahead (without consuming) for seq within the next
// records of the file set.
func seqComesLater(lr *lineReader, seq uint64) (bool, error) {
	const window = 1 << 16
	for i := 0; i < window; i++ {
		l, err := lr.peek(i)
		if err != nil {
			return false, err
		}
		if l == nil {
			return false, nil
		}
		if l.hdrOK && l.hdr.Seq == seq {
			return true, nil
		}
	}
	return false, nil
}

// VerifyCheckpoint is Verify, then compares the end of the log with the
// checkpoint in cp (the chain head the auditor stored apart from the log):
// a log that ends before the checkpoint's seq was cut at its end
// (Truncated, even at a record boundary of an open log), and a record at
// that seq whose MAC is not the checkpoint's was rewritten (Altered). A
// checkpoint that does not check is Altered, named by cp.Where(). A
// checkpoint before the files' first record (older files left out) is not
// compared. An empty store leaves Checkpoint nil; the caller decides
// whether that is acceptable.
func VerifyCheckpoint(key KeyFunc, cp CheckpointStore, files ...string) (VerifyResult, error) {
	return VerifyCheckpointListed(key, cp, func() ([]string, error) { return files, nil })
}

// VerifyCheckpointListed is VerifyCheckpoint for a log that is being
// written: it lists the files (list, e.g. Files) only after reading the
// checkpoint, so that a file the writer rotated to in between, holding
// the checkpointed record, is not missed and mistaken for a cut.
func VerifyCheckpointListed(key KeyFunc, cp CheckpointStore, list func() ([]string, error)) (VerifyResult, error) {
	c, err := LoadCheckpoint(key, cp)
	if err != nil {
		var res VerifyResult
		if _, ok := errors.AsType[badCheckpoint](err); ok {
			res.Problem = &Problem{Kind: Altered, File: cp.Where(), Line: 1, Detail: err.Error()}
			return res, nil
		}
		return res, err
	}
	var watch uint64
	if c != nil {
		watch = c.Seq
	}
	files, err := list()
	if err != nil {
		return VerifyResult{}, err
	}
	res, pos, err := verifyChain(key, watch, files)
	if err != nil || res.Problem != nil || c == nil {
		return res, err
	}
	res.Checkpoint = c
	switch {
	case c.Seq > res.LastSeq:
		file, line := pos.lastFile, pos.lastLine+1
		if !pos.lastFound && len(files) > 0 {
			file, line = files[len(files)-1], 1
		}
		res.Problem = &Problem{Kind: Truncated, File: file, Line: line, Seq: res.LastSeq + 1,
			Detail: fmt.Sprintf("the log ends at seq %d but %s: %s removed from its end", res.LastSeq, c.describe(cp.Where()), seqRange(res.LastSeq+1, c.Seq))}
	case pos.found && pos.mac != c.MAC:
		res.Problem = &Problem{Kind: Altered, File: pos.file, Line: pos.line, Seq: c.Seq,
			Detail: fmt.Sprintf("the record is not the one %s (its MAC differs): the log was rewritten from here, or the checkpoint belongs to another log", c.describe(cp.Where()))}
	}
	return res, nil
}

// seqRange names the records from to to.
func seqRange(from, to uint64) string {
	if from == to {
		return fmt.Sprintf("seq %d was", from)
	}
	return fmt.Sprintf("seq %d to %d were", from, to)
}
