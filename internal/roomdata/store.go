package roomdata

import (
	"cmp"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"

	mesh "github.com/the-mesh/mesh"
)

// Limits bound what a room may store. Open replaces a zero or negative
// field with its default.
type Limits struct {
	MaxFileBytes int64 // size of one file; default 1 MiB
	MaxRoomBytes int64 // total size of a room's files; default 64 MiB
	MaxFiles     int   // number of files in a room; default 1000
	MaxPathBytes int   // length of a path in bytes; default 256
	MaxDepth     int   // number of segments in a path; default 8
}

// DefaultLimits returns the default limits.
func DefaultLimits() Limits {
	return Limits{
		MaxFileBytes: 1 << 20,
		MaxRoomBytes: 64 << 20,
		MaxFiles:     1000,
		MaxPathBytes: 256,
		MaxDepth:     8,
	}
}

// withDefaults returns l with zero or negative fields set to their default.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxFileBytes <= 0 {
		l.MaxFileBytes = d.MaxFileBytes
	}
	if l.MaxRoomBytes <= 0 {
		l.MaxRoomBytes = d.MaxRoomBytes
	}
	if l.MaxFiles <= 0 {
		l.MaxFiles = d.MaxFiles
	}
	if l.MaxPathBytes <= 0 {
		l.MaxPathBytes = d.MaxPathBytes
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = d.MaxDepth
	}
	return l
}

// Info describes a stored file (mesh.FileInfo: listings and replies
// across nodes carry it too).
type Info = mesh.FileInfo

// Usage is what a room's files take up, as counted against its Limits.
type Usage struct {
	Bytes int64 `json:"bytes"`
	Files int   `json:"files"`
}

// Store holds the shared files of all rooms under one data directory. Its
// methods may be called from many goroutines at once. Puts and Deletes on
// one room are serialized; Gets and Lists are not, and see each file
// either before or after any concurrent Put.
type Store struct {
	root   *os.Root // <dataDir>/data
	limits Limits

	// beforeRename, when set by tests, runs after a Put has written and
	// synced its temporary file and before it renames it into place.
	beforeRename func(tmp string) error

	mu    sync.Mutex // guards rooms
	rooms map[mesh.RoomID]*roomState
}

// roomState is the accounting of one room. Its fields are guarded by mu,
// which is held for the whole of a Put or Delete on the room.
type roomState struct {
	mu     sync.Mutex
	loaded bool // usage has been computed from disk
	usage  Usage
}

// Open opens the store whose files live under dataDir/data, creating that
// directory if needed. The caller must Close the store.
func Open(dataDir string, limits Limits) (*Store, error) {
	dir := filepath.Join(dataDir, "data")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open room data: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("open room data: %w", err)
	}
	return &Store{root: root, limits: limits.withDefaults(), rooms: make(map[mesh.RoomID]*roomState)}, nil
}

// Close releases the store's directory handle. Calls in progress must have
// returned; none may follow.
func (s *Store) Close() error { return s.root.Close() }

// Limits returns the limits the store enforces, with defaults filled in.
func (s *Store) Limits() Limits { return s.limits }

// Get returns the content of the file at path in room and its Info.
// It returns EInvalid for a bad room id or path or a symbolic link on the
// way, ENotFound if there is no such file, and EConflict if path is a
// directory (the caller may then List it).
func (s *Store) Get(room mesh.RoomID, path string) (data []byte, info Info, err error) {
	segs, err := s.check(room, path)
	if err != nil {
		return nil, Info{}, err
	}
	c := s.newChain(room, segs[:len(segs)-1], path)
	defer c.close()
	if err := c.open(false); err != nil {
		return nil, Info{}, err
	}
	name := segs[len(segs)-1]
	fi, err := c.lstatFile(name, path)
	if err != nil {
		return nil, Info{}, err
	}
	data, info, err = readFile(c.top(), name, fi)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, Info{}, mesh.Errorf(mesh.ENotFound, "No file %q in room %s.", path, room)
	} else if errors.Is(err, errChanged) {
		return nil, Info{}, mesh.Errorf(mesh.EConflict, "File %q changed while being opened; try again.", path)
	} else if err != nil {
		return nil, Info{}, fmt.Errorf("get %s/%s: %w", room, path, err)
	}
	info.Path = path
	return data, info, nil
}

// Put replaces or creates the file at path in room with data, creating
// parent directories as needed, and returns its new Info. The replacement
// is atomic and durable once Put returns nil. It returns EInvalid for a bad
// room id or path or a symbolic link on the way, EConflict if path is a
// directory or one of its parents is a file, and ETooLarge if the file, the
// room's total size or its file count would exceed the Limits.
func (s *Store) Put(room mesh.RoomID, path string, data []byte) (Info, error) {
	segs, err := s.check(room, path)
	if err != nil {
		return Info{}, err
	}
	if n := int64(len(data)); n > s.limits.MaxFileBytes {
		return Info{}, mesh.Errorf(mesh.ETooLarge, "The file is %d bytes; the limit per file is %d bytes.", n, s.limits.MaxFileBytes)
	}
	rs, err := s.lockRoom(room)
	if err != nil {
		return Info{}, err
	}
	defer rs.mu.Unlock()

	// Open the existing directories, then check the quota before creating
	// any missing ones, so a refused Put leaves nothing behind.
	c := s.newChain(room, segs[:len(segs)-1], path)
	defer c.close()
	err = c.open(false)
	missing := mesh.ErrorCode(err) == mesh.ENotFound
	if err != nil && !missing {
		return Info{}, err
	}
	name := segs[len(segs)-1]
	var old fs.FileInfo
	if !missing {
		old, err = c.lstatFile(name, path)
		if mesh.ErrorCode(err) == mesh.ENotFound {
			old, err = nil, nil
		} else if err != nil {
			return Info{}, err
		}
	}
	if err := s.checkQuota(rs.usage, old, int64(len(data))); err != nil {
		return Info{}, err
	}
	if missing {
		if err := c.open(true); err != nil {
			return Info{}, err
		}
	}

	info, err := s.writeFile(c.top(), name, data)
	if err != nil {
		if missing {
			c.prune() // the directories made above
		}
		return Info{}, fmt.Errorf("put %s/%s: %w", room, path, err)
	}
	info.Path = path
	// The file is in place: account for it before any later failure.
	rs.usage.Bytes += info.Size
	if old == nil {
		rs.usage.Files++
	} else {
		rs.usage.Bytes -= old.Size()
	}
	if err := c.syncDirs(); err != nil {
		return Info{}, fmt.Errorf("put %s/%s: %w", room, path, err)
	}
	return info, nil
}

// checkQuota returns an ETooLarge error if replacing old (nil for a new
// file) with n bytes would take the room past its limits.
func (s *Store) checkQuota(u Usage, old fs.FileInfo, n int64) error {
	if old == nil && u.Files >= s.limits.MaxFiles {
		return mesh.Errorf(mesh.ETooLarge, "The room has reached its limit of %d files.", s.limits.MaxFiles)
	}
	total := u.Bytes + n
	if old != nil {
		total -= old.Size()
	}
	if total > s.limits.MaxRoomBytes {
		return mesh.Errorf(mesh.ETooLarge, "The room's files would take %d bytes; the limit per room is %d bytes.", total, s.limits.MaxRoomBytes)
	}
	return nil
}

// writeFile atomically replaces name in dir with data: it writes a hidden
// temporary file, fsyncs it and renames it over name. The caller fsyncs dir.
//
// This is atomicfile.WriteFile done through a directory handle. That
// function is not used because it resolves path strings afresh (following
// symbolic links, so it cannot be made race-safe) and names its temporary
// files "<name>.tmp*", which are valid data paths: clients could read,
// overwrite or list them, and ones left by a crash would count as files.
func (s *Store) writeFile(dir *os.Root, name string, data []byte) (Info, error) {
	tmp := tmpPrefix + rand.Text()
	f, err := dir.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return Info{}, err
	}
	// Removing fails harmlessly once renamed; nothing else can use the name.
	defer dir.Remove(tmp)
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	var fi fs.FileInfo
	if err == nil {
		fi, err = f.Stat()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && s.beforeRename != nil {
		err = s.beforeRename(tmp)
	}
	if err == nil {
		err = dir.Rename(tmp, name)
	}
	if err != nil {
		return Info{}, err
	}
	sum := sha256.Sum256(data)
	return Info{Size: fi.Size(), Modified: fi.ModTime().UTC(), SHA256: hex.EncodeToString(sum[:])}, nil
}

// Delete removes the file at path in room, then any parent directories
// left empty. It returns EInvalid for a bad room id or path or a symbolic
// link on the way, ENotFound if there is no such file, and EConflict if
// path is a directory.
func (s *Store) Delete(room mesh.RoomID, path string) error {
	segs, err := s.check(room, path)
	if err != nil {
		return err
	}
	rs, err := s.lockRoom(room)
	if err != nil {
		return err
	}
	defer rs.mu.Unlock()
	c := s.newChain(room, segs[:len(segs)-1], path)
	defer c.close()
	if err := c.open(false); err != nil {
		return err
	}
	name := segs[len(segs)-1]
	fi, err := c.lstatFile(name, path)
	if err != nil {
		return err
	}
	if err := c.top().Remove(name); err != nil {
		return fmt.Errorf("delete %s/%s: %w", room, path, err)
	}
	rs.usage.Bytes -= fi.Size()
	rs.usage.Files--
	c.dirty[len(c.dirs)-1] = true
	c.prune()
	if err := c.syncDirs(); err != nil {
		return fmt.Errorf("delete %s/%s: %w", room, path, err)
	}
	return nil
}

// List returns the files in room under the directory prefix, at any depth,
// sorted by path. An empty prefix lists the whole room; a room with no files
// yet has an empty list. Paths are relative to the room, not to prefix.
// Symbolic links, special files and names no path could reach are skipped.
// It returns EInvalid for a bad room id or prefix or a symbolic link on the
// way to prefix, ENotFound if prefix does not exist and EConflict if it is a
// file. List reads every file to compute its SHA256, so its cost grows with
// the room's size (bounded by Limits.MaxRoomBytes).
func (s *Store) List(room mesh.RoomID, prefix string) ([]Info, error) {
	prefix = strings.TrimSuffix(prefix, "/")
	var segs []string
	if prefix == "" {
		if !room.Valid() {
			return nil, mesh.Errorf(mesh.EInvalid, "Invalid room id %q.", room)
		}
	} else {
		var err error
		if segs, err = s.check(room, prefix); err != nil {
			return nil, err
		}
	}
	c := s.newChain(room, segs, prefix)
	defer c.close()
	err := c.open(false)
	if prefix == "" && mesh.ErrorCode(err) == mesh.ENotFound {
		return []Info{}, nil
	} else if err != nil {
		return nil, err
	}
	list := []Info{}
	err = walk(c.top(), prefix, len(segs), s.limits.MaxDepth, func(dir *os.Root, rel, name string, fi fs.FileInfo) error {
		if !validName(name) {
			return fs.SkipDir // unreachable through the API
		} else if !fi.Mode().IsRegular() {
			return nil
		}
		_, info, err := readFile(dir, name, fi)
		if errors.Is(err, errChanged) || errors.Is(err, fs.ErrNotExist) {
			return nil // replaced or deleted under us: skip it
		} else if err != nil {
			return err
		}
		info.Path = rel
		list = append(list, info)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s/%s: %w", room, prefix, err)
	}
	slices.SortFunc(list, func(a, b Info) int { return cmp.Compare(a.Path, b.Path) })
	return list, nil
}

// Usage returns what room's files take up against the Limits.
func (s *Store) Usage(room mesh.RoomID) (Usage, error) {
	if !room.Valid() {
		return Usage{}, mesh.Errorf(mesh.EInvalid, "Invalid room id %q.", room)
	}
	rs, err := s.lockRoom(room)
	if err != nil {
		return Usage{}, err
	}
	defer rs.mu.Unlock()
	return rs.usage, nil
}

// check validates room and path, returning path's segments.
func (s *Store) check(room mesh.RoomID, path string) ([]string, error) {
	if !room.Valid() {
		return nil, mesh.Errorf(mesh.EInvalid, "Invalid room id %q.", room)
	}
	return s.limits.splitPath(path)
}

// lockRoom returns room's state locked, computing its usage first if this
// is the first time. The caller must unlock rs.mu.
func (s *Store) lockRoom(room mesh.RoomID) (rs *roomState, err error) {
	s.mu.Lock()
	rs = s.rooms[room]
	if rs == nil {
		rs = &roomState{}
		s.rooms[room] = rs
	}
	s.mu.Unlock()

	rs.mu.Lock()
	if rs.loaded {
		return rs, nil
	}
	u, err := s.measure(room)
	if err != nil {
		rs.mu.Unlock()
		return nil, err
	}
	rs.usage, rs.loaded = u, true
	return rs, nil
}

// measure walks room's directory and returns its usage. It removes the
// temporary files left by interrupted writes. room's lock must be held.
func (s *Store) measure(room mesh.RoomID) (Usage, error) {
	var u Usage
	c := s.newChain(room, nil, "")
	defer c.close()
	err := c.open(false)
	if mesh.ErrorCode(err) == mesh.ENotFound {
		return u, nil
	} else if err != nil {
		return u, err
	}
	err = walk(c.top(), "", 0, maxWalkDepth, func(dir *os.Root, rel, name string, fi fs.FileInfo) error {
		if !fi.Mode().IsRegular() {
			return nil
		}
		if strings.HasPrefix(name, tmpPrefix) {
			if err := dir.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			return nil
		}
		u.Bytes += fi.Size()
		u.Files++
		return nil
	})
	if err != nil {
		return u, fmt.Errorf("measure room %s: %w", room, err)
	}
	return u, nil
}

// errChanged reports that a file or directory changed between the lstat
// that checked it and the open that followed.
var errChanged = errors.New("changed while being opened")

// readFile reads name in dir, which fi (from Lstat) says is a regular file,
// and refuses it if what was opened is not that file.
func readFile(dir *os.Root, name string, fi fs.FileInfo) ([]byte, Info, error) {
	// O_NONBLOCK keeps a FIFO swapped in after the Lstat from blocking.
	f, err := dir.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, Info{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, Info{}, err
	}
	if !st.Mode().IsRegular() || !os.SameFile(fi, st) {
		return nil, Info{}, fmt.Errorf("%s: %w", name, errChanged)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, Info{}, err
	}
	sum := sha256.Sum256(data)
	return data, Info{Size: int64(len(data)), Modified: st.ModTime().UTC(), SHA256: hex.EncodeToString(sum[:])}, nil
}
