package roomdata

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"

	mesh "github.com/the-mesh/mesh"
)

// maxWalkDepth bounds how deep measure looks, so a tree made outside the
// API cannot exhaust file descriptors.
const maxWalkDepth = 64

// A chain is the open directories from a room's directory down to the
// parent of a path, each opened without following symbolic links. It is
// used by one goroutine at a time.
type chain struct {
	base  *os.Root // the store's data directory; not owned
	room  mesh.RoomID
	segs  []string   // directories below the room directory
	shown string     // the path as the caller gave it, for messages
	dirs  []*os.Root // dirs[0] is the room directory, dirs[i] is segs[i-1]
	dirty []bool     // dirty[i]: an entry of dirs[i] was added or removed
	// baseDirty: the room directory was created in base.
	baseDirty bool
}

func (s *Store) newChain(room mesh.RoomID, segs []string, shown string) *chain {
	return &chain{base: s.root, room: room, segs: segs, shown: shown}
}

// top returns the deepest open directory.
func (c *chain) top() *os.Root { return c.dirs[len(c.dirs)-1] }

// close closes the directories the chain opened.
func (c *chain) close() {
	for _, d := range c.dirs {
		d.Close()
	}
	c.dirs = nil
}

// open opens the directories not yet open, making missing ones if create is
// set. It returns ENotFound at the first missing directory otherwise, and
// leaves the ones before it open, so a later open(true) can go on from there.
func (c *chain) open(create bool) error {
	for len(c.dirs) <= len(c.segs) {
		i := len(c.dirs)
		parent, name, shown := c.base, string(c.room), "The room directory"
		if i > 0 {
			parent, name = c.dirs[i-1], c.segs[i-1]
			shown = fmt.Sprintf("%q", strings.Join(c.segs[:i], "/"))
		}
		made, d, err := openDir(parent, name, shown, create)
		if err != nil {
			if mesh.ErrorCode(err) == mesh.ENotFound {
				return mesh.Errorf(mesh.ENotFound, "No file or directory %q in room %s.", c.shown, c.room)
			}
			return err
		}
		if made && i == 0 {
			c.baseDirty = true
		} else if made {
			c.dirty[i-1] = true
		}
		c.dirs = append(c.dirs, d)
		c.dirty = append(c.dirty, false)
	}
	return nil
}

// openDir opens the directory name in parent, refusing a symbolic link or
// anything but a directory, and making it first if it is missing and create
// is set. shown names it in error messages.
func openDir(parent *os.Root, name, shown string, create bool) (made bool, d *os.Root, err error) {
	fi, err := parent.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) && create {
		err = parent.Mkdir(name, 0o700)
		made = err == nil
		if err == nil || errors.Is(err, fs.ErrExist) {
			fi, err = parent.Lstat(name)
		}
	}
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil, mesh.Errorf(mesh.ENotFound, "%s does not exist.", shown)
	} else if err != nil {
		return false, nil, err
	}
	if err := checkMode(fi, shown, true); err != nil {
		return false, nil, err
	}
	d, err = parent.OpenRoot(name)
	if err != nil {
		return false, nil, err
	}
	st, err := d.Stat(".")
	if err == nil && !os.SameFile(fi, st) {
		err = mesh.Errorf(mesh.EConflict, "%s changed while being opened; try again.", shown)
	}
	if err != nil {
		d.Close()
		return false, nil, err
	}
	return made, d, nil
}

// checkMode returns an error unless fi, from Lstat, is a directory (when
// dir is set) or a regular file (otherwise).
func checkMode(fi fs.FileInfo, shown string, dir bool) error {
	switch m := fi.Mode(); {
	case m&fs.ModeSymlink != 0:
		return mesh.Errorf(mesh.EInvalid, "%s is a symbolic link; links are never followed.", shown)
	case m.IsDir() && !dir:
		return mesh.Errorf(mesh.EConflict, "%s is a directory, not a file.", shown)
	case m.IsRegular() && dir:
		return mesh.Errorf(mesh.EConflict, "%s is a file, not a directory.", shown)
	case !m.IsDir() && !m.IsRegular():
		return mesh.Errorf(mesh.EInvalid, "%s is not a regular file or directory.", shown)
	}
	return nil
}

// lstatFile returns the Lstat of name in the top directory, which must be
// a regular file. p names it in messages.
func (c *chain) lstatFile(name, p string) (fs.FileInfo, error) {
	fi, err := c.top().Lstat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, mesh.Errorf(mesh.ENotFound, "No file %q in room %s.", p, c.room)
	} else if err != nil {
		return nil, err
	}
	return fi, checkMode(fi, fmt.Sprintf("%q", p), false)
}

// prune removes the directories of the chain below the room directory that
// are empty, deepest first, and stops at the first that is not.
func (c *chain) prune() {
	for i := len(c.dirs) - 1; i > 0; i-- {
		if c.dirs[i-1].Remove(c.segs[i-1]) != nil {
			return // not empty, most likely: keep it and its parents
		}
		c.dirty[i-1] = true
	}
}

// syncDirs fsyncs the directories whose entries changed.
func (c *chain) syncDirs() error {
	for i, d := range c.dirs {
		if c.dirty[i] {
			if err := syncDir(d); err != nil {
				return err
			}
		}
	}
	if c.baseDirty {
		return syncDir(c.base)
	}
	return nil
}

func syncDir(r *os.Root) error {
	d, err := r.Open(".")
	if err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", d.Name(), err)
	}
	return nil
}

// walk calls fn for each entry of dir, whose path relative to the room is
// rel and which is depth segments deep, then descends into directories
// fewer than maxDepth segments deep unless fn returns fs.SkipDir for them.
// Symbolic links are passed to fn, never followed; directories are opened
// as openDir does, and skipped if they change while being opened.
func walk(dir *os.Root, rel string, depth, maxDepth int, fn func(dir *os.Root, rel, name string, fi fs.FileInfo) error) error {
	f, err := dir.Open(".")
	if err != nil {
		return err
	}
	entries, err := f.ReadDir(-1)
	f.Close()
	if err != nil {
		return err
	}
	for _, e := range entries {
		name := e.Name()
		p := path.Join(rel, name)
		fi, err := dir.Lstat(name)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		} else if err != nil {
			return err
		}
		err = fn(dir, p, name, fi)
		if err == fs.SkipDir {
			continue
		} else if err != nil {
			return err
		}
		if !fi.IsDir() || depth+1 >= maxDepth {
			continue
		}
		_, sub, err := openDir(dir, name, p, false)
		if err != nil && mesh.ErrorCode(err) != mesh.EInternal {
			continue // gone, or changed into something else: skip it
		} else if err != nil {
			return err
		}
		err = walk(sub, p, depth+1, maxDepth, fn)
		sub.Close()
		if err != nil {
			return err
		}
	}
	return nil
}
