// Package fsblob is the blob.Store adapter on files under a root folder,
// with expiring signed URLs served by its own http.Handler: the one-machine
// stand-in for S3 and its presigned GET URLs. Presigned URLs for local
// files have no library, so this is written by hand and kept small.
//
// Layout: an object's sidecar, "<name>~meta" (JSON: content type, size,
// SHA-256, time, data file), is what makes the object exist; its data is in
// "<name>~<random>". Keys cannot contain '~', so neither name can clash with
// a key, and key "a" can live beside key "a/b" as in S3. Put writes and
// syncs a new data file, then replaces the sidecar by an atomic rename,
// then removes the old data file: a crash at any point leaves either the
// old object or the new one (at worst plus an unreferenced data file),
// never half of one.
package fsblob

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/videoai/mediatasks/shared/blob"
)

var _ blob.Store = (*Store)(nil)

const (
	metaSuffix = "~meta"
	// maxSegmentLen keeps "<segment>~<16 hex>" within the 255 bytes most
	// file systems allow in a name.
	maxSegmentLen = 200
	// defaultContentType is what S3 answers for an object stored without one.
	defaultContentType = "application/octet-stream"
)

// Options configure a Store.
type Options struct {
	// BaseURL is where the server that mounts Handler is reached, for
	// example "http://127.0.0.1:8080". Signed URLs start with it.
	BaseURL string
	// Secret signs URLs: at least 32 random bytes, which the caller keeps
	// across restarts (or every URL handed out stops working).
	Secret []byte
	// Prefix is the URL path Handler is mounted on (default "/files/").
	Prefix string
	// Now is the clock (default time.Now).
	Now func() time.Time
	// NoSync leaves written files to the operating system's cache: they
	// survive a crash of the process but not a power loss, as a database
	// with synchronous=NORMAL does. By default a put returns once its
	// file is on disk.
	NoSync bool
}

// Store keeps objects under a root folder.
type Store struct {
	root   string
	opts   Options
	signer *Signer
	// locks serialise Put and Delete on one key within the process, so two
	// replacing each other cannot strand a data file.
	locks   [64]sync.Mutex
	durable durability
	// dirs remembers folders known to exist, sparing a stat per put.
	dirs sync.Map
}

// New returns a Store on root, creating the folder if needed.
func New(root string, opts Options) (*Store, error) {
	signer, err := NewSigner(opts)
	if err != nil {
		return nil, fmt.Errorf("fs blob store: %w", err)
	}
	root, err = filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("fs blob store: %w", err)
	}
	if err := os.MkdirAll(root, 0o750); err != nil {
		return nil, fmt.Errorf("fs blob store: %w", err)
	}
	var durable durability = cacheOnly{}
	if !opts.NoSync {
		if durable, _, err = newDurability(root); err != nil {
			return nil, fmt.Errorf("fs blob store: %w", err)
		}
	}
	// The folder handle that flushes the file system lives as long as the
	// process: stores are made once, at start-up.
	return &Store{root: root, opts: signer.opts, signer: signer, durable: durable}, nil
}

// sidecar is the JSON kept beside each object.
type sidecar struct {
	// Key is the object's key (files are placed by its hash), so that a
	// walk can tell which objects lie under a prefix; sidecars written
	// before it was kept have none.
	Key         string    `json:"key,omitempty"`
	Data        string    `json:"data"` // data file name, in the same folder
	ContentType string    `json:"content_type"`
	Size        int64     `json:"size"`
	SHA256      string    `json:"sha256"`
	ModTime     time.Time `json:"mod_time"`
}

// ValidKey reports whether key is one blob.ValidKey accepts and this
// adapter can hold: its file names take segments of at most 200 bytes.
func ValidKey(key string) bool {
	if !blob.ValidKey(key) {
		return false
	}
	for seg := range strings.SplitSeq(key, "/") {
		if len(seg) > maxSegmentLen {
			return false
		}
	}
	return true
}

// paths returns the key's folder and its sidecar's path.
// paths places a key's files by the SHA-256 of the key, in one of 256
// folders: a key's folders need not be made on each put (a new folder per
// task cost a mkdir, and creating entries in one crowded folder serialises
// on its lock), and no key can collide with another's folder.
func (s *Store) paths(key string) (dir, meta string) {
	sum := sha256.Sum256([]byte(key))
	h := hex.EncodeToString(sum[:])
	dir = filepath.Join(s.root, h[:2])
	return dir, filepath.Join(dir, h[2:]+metaSuffix)
}

func (s *Store) lock(key string) func() {
	h := fnv.New32a()
	h.Write([]byte(key))
	m := &s.locks[h.Sum32()%uint32(len(s.locks))]
	m.Lock()
	return m.Unlock
}

// Put stores r under key, replacing any object there.
func (s *Store) Put(ctx context.Context, key, contentType string, r io.Reader, maxBytes int64) (blob.Object, error) {
	if !ValidKey(key) {
		return blob.Object{}, fmt.Errorf("put %q: %w", key, blob.ErrInvalidKey)
	}
	if maxBytes < 0 {
		return blob.Object{}, fmt.Errorf("put %s: negative size limit %d", key, maxBytes)
	}
	if contentType == "" {
		contentType = defaultContentType
	}
	dir, metaPath := s.paths(key)
	if err := s.makeDirs(dir); err != nil {
		return blob.Object{}, fmt.Errorf("put %s: %w", key, err)
	}
	// Write the data before taking the key's lock: a slow upload must not
	// hold up others.
	name := strings.TrimSuffix(filepath.Base(metaPath), metaSuffix) + "~" + randomHex(8)
	dataPath := filepath.Join(dir, name)
	size, sum, err := s.writeData(ctx, dataPath, r, maxBytes)
	if err == nil {
		// The data is durable before a sidecar names it, so that a power
		// loss cannot leave a sidecar pointing at an empty file.
		err = s.durable.barrier()
	}
	if err != nil {
		os.Remove(dataPath)
		return blob.Object{}, fmt.Errorf("put %s: %w", key, err)
	}
	meta := sidecar{
		Key:         key,
		Data:        name,
		ContentType: contentType,
		Size:        size,
		SHA256:      sum,
		ModTime:     s.opts.Now().UTC().Truncate(time.Millisecond),
	}
	unlock := s.lock(key)
	defer unlock()
	old, oldErr := readSidecar(metaPath)
	if err := s.writeSidecar(metaPath, meta); err != nil {
		os.Remove(dataPath)
		return blob.Object{}, fmt.Errorf("put %s: %w", key, err)
	}
	if err := s.durable.barrier(); err != nil {
		return blob.Object{}, fmt.Errorf("put %s: %w", key, err)
	}
	if oldErr == nil && old.Data != name {
		// Readers that opened it keep reading it; it is only unlinked.
		os.Remove(filepath.Join(dir, old.Data))
	}
	return meta.object(key), nil
}

// writeData streams r into a new file at p, counting and hashing, and
// syncs it. Past maxBytes (when not 0) it stops with blob.ErrTooLarge.
func (s *Store) writeData(ctx context.Context, p string, r io.Reader, maxBytes int64) (int64, string, error) {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	h := sha256.New()
	src := io.Reader(blob.ContextReader(ctx, r))
	if maxBytes > 0 {
		src = io.LimitReader(src, maxBytes+1) // one byte more tells too large from just fitting
	}
	n, err := io.Copy(io.MultiWriter(f, h), src)
	if err != nil {
		return 0, "", fmt.Errorf("write data: %w", err)
	}
	if maxBytes > 0 && n > maxBytes {
		return 0, "", fmt.Errorf("more than %d bytes: %w", maxBytes, blob.ErrTooLarge)
	}
	if err := s.durable.file(f); err != nil {
		return 0, "", fmt.Errorf("sync data: %w", err)
	}
	if err := f.Close(); err != nil {
		return 0, "", fmt.Errorf("close data: %w", err)
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

// writeSidecar replaces the sidecar atomically: temp file, sync, rename,
// and a sync of the folder so the rename itself survives a crash.
func (s *Store) writeSidecar(p string, meta sidecar) error {
	b, err := json.Marshal(meta)
	if err != nil {
		return fmt.Errorf("encode sidecar: %w", err)
	}
	tmp := p + "~tmp" + randomHex(8)
	if err := s.writeFileSync(tmp, b); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write sidecar: %w", err)
	}
	if err := os.Rename(tmp, p); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("commit sidecar: %w", err)
	}
	return s.durable.dir(filepath.Dir(p))
}

func (s *Store) writeFileSync(p string, b []byte) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := s.durable.file(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// makeDirs makes dir and its missing parents below the root, syncing each
// parent of a folder it made, so that an acknowledged object's folders
// survive a power loss too.
func (s *Store) makeDirs(dir string) error {
	if _, known := s.dirs.Load(dir); known {
		return nil
	}
	if _, err := os.Stat(dir); err == nil {
		s.dirs.Store(dir, struct{}{})
		return nil
	}
	parent := filepath.Dir(dir)
	if parent != dir && parent != s.root {
		if err := s.makeDirs(parent); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, 0o750); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	if err := s.durable.dir(parent); err != nil {
		return err
	}
	s.dirs.Store(dir, struct{}{})
	return nil
}

func readSidecar(p string) (sidecar, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return sidecar{}, blob.ErrNotFound
		}
		return sidecar{}, err
	}
	var meta sidecar
	if err := json.Unmarshal(b, &meta); err != nil {
		return sidecar{}, fmt.Errorf("decode sidecar: %w", err)
	}
	if meta.Data == "" || strings.ContainsAny(meta.Data, `/\`) {
		return sidecar{}, fmt.Errorf("sidecar names data file %q", meta.Data)
	}
	return meta, nil
}

func (m sidecar) object(key string) blob.Object {
	return blob.Object{Key: key, ContentType: m.ContentType, Size: m.Size, SHA256: m.SHA256, ModTime: m.ModTime}
}

// Get opens the object's data. A Put replacing the object between reading
// the sidecar and opening the data removes the data file it named; reading
// the sidecar again then finds the new one.
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, blob.Object, error) {
	f, meta, err := s.open(key)
	if err != nil {
		return nil, blob.Object{}, err
	}
	return f, meta.object(key), nil
}

func (s *Store) open(key string) (*os.File, sidecar, error) {
	if !ValidKey(key) {
		return nil, sidecar{}, fmt.Errorf("get %q: %w", key, blob.ErrInvalidKey)
	}
	dir, metaPath := s.paths(key)
	for range 3 {
		meta, err := readSidecar(metaPath)
		if err != nil {
			return nil, sidecar{}, fmt.Errorf("get %s: %w", key, err)
		}
		f, err := os.Open(filepath.Join(dir, meta.Data))
		if errors.Is(err, fs.ErrNotExist) {
			continue // replaced or deleted meanwhile
		}
		if err != nil {
			return nil, sidecar{}, fmt.Errorf("get %s: %w", key, err)
		}
		return f, meta, nil
	}
	return nil, sidecar{}, fmt.Errorf("get %s: %w", key, blob.ErrNotFound)
}

// Stat reads the object's sidecar.
func (s *Store) Stat(ctx context.Context, key string) (blob.Object, error) {
	if !ValidKey(key) {
		return blob.Object{}, fmt.Errorf("stat %q: %w", key, blob.ErrInvalidKey)
	}
	_, metaPath := s.paths(key)
	meta, err := readSidecar(metaPath)
	if err != nil {
		return blob.Object{}, fmt.Errorf("stat %s: %w", key, err)
	}
	return meta.object(key), nil
}

// Delete removes the object: the sidecar first (from then on the object
// is gone), then its data. Empty folders are left: removing them would
// race with a Put creating a file in them.
func (s *Store) Delete(ctx context.Context, key string) error {
	if !ValidKey(key) {
		return fmt.Errorf("delete %q: %w", key, blob.ErrInvalidKey)
	}
	dir, metaPath := s.paths(key)
	unlock := s.lock(key)
	defer unlock()
	meta, err := readSidecar(metaPath)
	if errors.Is(err, blob.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	if err := os.Remove(metaPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	if err := os.Remove(filepath.Join(dir, meta.Data)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete %s: data: %w", key, err)
	}
	return nil
}

// Ping checks that the root folder is there.
func (s *Store) Ping(ctx context.Context) error {
	fi, err := os.Stat(s.root)
	if err != nil {
		return fmt.Errorf("ping fs blob store: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("ping fs blob store: %s is not a folder", s.root)
	}
	return nil
}

// SignedURL returns BaseURL + Prefix + key + "?expires=<unix>&sig=<sig>".
func (s *Store) SignedURL(ctx context.Context, key string, ttl time.Duration) (string, error) {
	if !ValidKey(key) {
		return "", fmt.Errorf("sign %q: %w", key, blob.ErrInvalidKey)
	}
	return s.signer.URL(key, ttl)
}

// Handler serves GET and HEAD of signed URLs, ranges included. Mount it
// at Prefix, for example mux.Handle("/files/", store.Handler()).
func (s *Store) Handler() http.Handler { return s.signer.Handler(ValidKey, s.Get) }

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand panics rather than return an error)
	return hex.EncodeToString(b)
}

// DeleteBefore removes up to limit objects under prefix last written
// before the time, and says how many it removed. It walks the sidecars:
// objects written before sidecars named their keys are not seen.
func (s *Store) DeleteBefore(ctx context.Context, prefix string, before time.Time, limit int) (int, error) {
	dirs, err := os.ReadDir(s.root)
	if err != nil {
		return 0, fmt.Errorf("delete under %s: %w", prefix, err)
	}
	n := 0
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		entries, err := os.ReadDir(filepath.Join(s.root, d.Name()))
		if err != nil {
			return n, fmt.Errorf("delete under %s: %w", prefix, err)
		}
		for _, e := range entries {
			if ctx.Err() != nil || n >= limit {
				return n, ctx.Err()
			}
			if !strings.HasSuffix(e.Name(), metaSuffix) {
				continue
			}
			meta, err := readSidecar(filepath.Join(s.root, d.Name(), e.Name()))
			if err != nil || meta.Key == "" || !strings.HasPrefix(meta.Key, prefix) || !meta.ModTime.Before(before) {
				continue
			}
			if err := s.Delete(ctx, meta.Key); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}
