package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/phiguard/phiguard/keys"
)

// Subject keys live beside the keyring file, in the directory
// <file>.subjects/, one file per subject tag (never per subject id):
//
//	{"format": "phiguard-subject-key-v1", "wrapped": base64}     a key
//	{"format": "phiguard-subject-key-v1", "shredded": time}      a tombstone
//
// The wrapped key is sealed by the keyring's "subjects" data key, so the
// directory alone opens nothing. A key is created with link(2) from a
// complete temporary file, which fails if the name exists: two proxies
// creating the same subject's key at once cannot both win. A shred first
// overwrites the key file's bytes in place with zeros and syncs, then
// renames a tombstone over it; what a file system or SSD keeps of old
// blocks is outside phiguard's reach (docs/shredding.md).

const subjectFormat = "phiguard-subject-key-v1"

type subjectFile struct {
	Format   string     `json:"format"`
	Wrapped  []byte     `json:"wrapped,omitempty"`
	Shredded *time.Time `json:"shredded,omitempty"`
}

var _ keys.SubjectStore = (*Provider)(nil)

// SubjectDir is the directory holding the subject keys of the keyring
// file at path.
func SubjectDir(path string) string { return path + ".subjects" }

func (p *Provider) subjectPath(tag string) (string, error) {
	if _, ok := keys.SubjectTagOf(keys.SubjectKeyIDOf(tag)); !ok {
		return "", fmt.Errorf("local: %q is not a subject tag", tag)
	}
	return filepath.Join(SubjectDir(p.path), tag), nil
}

// GetSubjectKey implements keys.SubjectStore.
func (p *Provider) GetSubjectKey(_ context.Context, tag string) ([]byte, error) {
	path, err := p.subjectPath(tag)
	if err != nil {
		return nil, err
	}
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", keys.ErrNoSubjectKey, tag)
	}
	if err != nil {
		return nil, fmt.Errorf("local: %w", err)
	}
	var f subjectFile
	if err := json.Unmarshal(raw, &f); err != nil || f.Format != subjectFormat {
		return nil, fmt.Errorf("local: subject key file %s is not a phiguard subject key", path)
	}
	if f.Shredded != nil {
		return nil, keys.ErrShredded
	}
	return f.Wrapped, nil
}

// CreateSubjectKey implements keys.SubjectStore.
func (p *Provider) CreateSubjectKey(_ context.Context, tag string, wrapped []byte) error {
	path, err := p.subjectPath(tag)
	if err != nil {
		return err
	}
	data, err := json.Marshal(subjectFile{Format: subjectFormat, Wrapped: wrapped})
	if err != nil {
		return err
	}
	tmp, err := p.writeTemp(data)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%w: subject key %s exists", keys.ErrConflict, tag)
		}
		return fmt.Errorf("local: %w", err)
	}
	syncDir(filepath.Dir(path))
	return nil
}

// ShredSubjectKey implements keys.SubjectStore.
func (p *Provider) ShredSubjectKey(ctx context.Context, tag string) (keys.ShredOutcome, error) {
	path, err := p.subjectPath(tag)
	if err != nil {
		return 0, err
	}
	outcome := keys.ShredDestroyed
	switch _, err := p.GetSubjectKey(ctx, tag); {
	case errors.Is(err, keys.ErrShredded):
		return keys.ShredAlready, nil
	case errors.Is(err, keys.ErrNoSubjectKey):
		outcome = keys.ShredNoKey
	case err != nil:
		return 0, err
	default:
		if err := zeroFile(path); err != nil {
			return 0, err
		}
	}
	now := p.now().UTC()
	data, err := json.Marshal(subjectFile{Format: subjectFormat, Shredded: &now})
	if err != nil {
		return 0, err
	}
	tmp, err := p.writeTemp(data)
	if err != nil {
		return 0, err
	}
	defer os.Remove(tmp)
	if err := os.Rename(tmp, path); err != nil {
		return 0, fmt.Errorf("local: %w", err)
	}
	syncDir(filepath.Dir(path))
	return outcome, nil
}

// writeTemp writes data to a new synced 0600 file in the subject directory.
func (p *Provider) writeTemp(data []byte) (string, error) {
	dir := SubjectDir(p.path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("local: %w", err)
	}
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return "", fmt.Errorf("local: %w", err)
	}
	_, werr := f.Write(data)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("local: %w", err)
	}
	return f.Name(), nil
}

// zeroFile overwrites a file's bytes with zeros and syncs it, so the
// wrapped key does not linger in the blocks the tombstone replaces (as far
// as the file system honours in-place writes).
func zeroFile(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("local: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("local: %w", err)
	}
	if _, err := f.WriteAt(make([]byte, st.Size()), 0); err != nil {
		return fmt.Errorf("local: %w", err)
	}
	return f.Sync()
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

var _ keys.SubjectBatchCreator = (*Provider)(nil)

// CreateSubjectKeys implements keys.SubjectBatchCreator: the backfill
// creates a key for every patient of a batch. One by one, each key costs
// two fsyncs (the file, then the directory) — about 4 ms here, 70 seconds
// for 100,000 patients. In a batch, every file is written first, then one
// syncfs(2) makes them all durable, then each is linked to its name (which
// fails if the name exists, as in CreateSubjectKey) and the directory is
// synced once. A key is durable before its name appears, so a crash never
// leaves a name without its key; a crash before the link leaves only
// temporary files, which the next run's CreateSubjectKeys does not see.
func (p *Provider) CreateSubjectKeys(_ context.Context, wrapped map[string][]byte) ([]string, error) {
	dir := SubjectDir(p.path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("local: %w", err)
	}
	tmps := make(map[string]string, len(wrapped))
	defer func() {
		for _, tmp := range tmps {
			os.Remove(tmp)
		}
	}()
	for tag, w := range wrapped {
		if _, err := p.subjectPath(tag); err != nil {
			return nil, err
		}
		data, err := json.Marshal(subjectFile{Format: subjectFormat, Wrapped: w})
		if err != nil {
			return nil, err
		}
		f, err := os.CreateTemp(dir, ".tmp-*")
		if err != nil {
			return nil, fmt.Errorf("local: %w", err)
		}
		tmps[tag] = f.Name()
		_, werr := f.Write(data)
		if err := errors.Join(werr, f.Close()); err != nil {
			return nil, fmt.Errorf("local: %w", err)
		}
	}
	files := make([]string, 0, len(tmps))
	for _, tmp := range tmps {
		files = append(files, tmp)
	}
	if err := syncFiles(dir, files); err != nil {
		return nil, err
	}
	var conflicts []string
	for tag, tmp := range tmps {
		path, _ := p.subjectPath(tag)
		if err := os.Link(tmp, path); err != nil {
			if errors.Is(err, fs.ErrExist) {
				conflicts = append(conflicts, tag)
				continue
			}
			return nil, fmt.Errorf("local: %w", err)
		}
	}
	syncDir(dir)
	return conflicts, nil
}
