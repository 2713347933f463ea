package jsonl

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
)

// Index layout; see the package doc.
const (
	idxMagic     = "MIDX"
	idxVersion   = 1
	idxHeaderLen = 64
	idxEntryLen  = 16
	maxEpochLen  = idxHeaderLen - 16
)

// idxEntry says where the line with seq starts.
type idxEntry struct {
	seq uint64
	off int64
}

// makeEpoch returns the epoch of a log whose first line is line1.
func makeEpoch(room string, line1 []byte) string {
	h := sha256.New()
	h.Write([]byte(room))
	h.Write([]byte{'\n'})
	h.Write(line1)
	return hex.EncodeToString(h.Sum(nil))[:16]
}

func encodeHeader(every int, epoch string) []byte {
	b := make([]byte, idxHeaderLen)
	copy(b, idxMagic)
	binary.BigEndian.PutUint32(b[4:], idxVersion)
	binary.BigEndian.PutUint32(b[8:], uint32(every))
	binary.BigEndian.PutUint32(b[12:], uint32(len(epoch)))
	copy(b[16:], epoch)
	return b
}

// readHeader reads the header of idx and returns its every and epoch.
func readHeader(idx io.ReaderAt) (every int, epoch string, err error) {
	b := make([]byte, idxHeaderLen)
	if _, err := idx.ReadAt(b, 0); err != nil {
		return 0, "", err
	}
	if string(b[:4]) != idxMagic {
		return 0, "", errors.New("bad magic")
	}
	if v := binary.BigEndian.Uint32(b[4:]); v != idxVersion {
		return 0, "", fmt.Errorf("version %d, want %d", v, idxVersion)
	}
	n := binary.BigEndian.Uint32(b[12:])
	if n > maxEpochLen {
		return 0, "", fmt.Errorf("epoch length %d", n)
	}
	return int(binary.BigEndian.Uint32(b[8:])), string(b[16 : 16+n]), nil
}

// appendEntry appends e's encoding to b.
func appendEntry(b []byte, e idxEntry) []byte {
	b = binary.BigEndian.AppendUint64(b, e.seq)
	return binary.BigEndian.AppendUint64(b, uint64(e.off))
}

// entryPos is where entry k lives in the index file.
func entryPos(k int64) int64 { return idxHeaderLen + k*idxEntryLen }

// readEntry reads entry k of idx.
func readEntry(idx io.ReaderAt, k int64) (idxEntry, error) {
	var b [idxEntryLen]byte
	if _, err := idx.ReadAt(b[:], entryPos(k)); err != nil {
		return idxEntry{}, err
	}
	return idxEntry{
		seq: binary.BigEndian.Uint64(b[:8]),
		off: int64(binary.BigEndian.Uint64(b[8:])),
	}, nil
}

// checkIndex returns how many leading entries of idx agree with log, whose
// good part is size bytes long and whose first line gives epoch. It trusts
// entries before the newest good one among the last few (package doc);
// it returns 0 when the header is wrong or none of them is good.
func checkIndex(idx, log *os.File, size int64, every int, epoch string) (int64, error) {
	fi, err := idx.Stat()
	if err != nil {
		return 0, err
	}
	if fi.Size() < idxHeaderLen {
		return 0, nil
	}
	hEvery, hEpoch, err := readHeader(idx)
	if err != nil || hEvery != every || hEpoch != epoch {
		return 0, nil // stale or foreign: rebuild
	}
	const tries = 4
	n, err := entriesBefore(idx, (fi.Size()-idxHeaderLen)/idxEntryLen, size)
	if err != nil {
		return 0, err
	}
	for k := n - 1; k >= 0 && k >= n-tries; k-- {
		e, err := readEntry(idx, k)
		if err != nil {
			return 0, err
		}
		if ok, err := entryGood(log, size, e, uint64(k)*uint64(every)+1); err != nil {
			return 0, err
		} else if ok {
			return k + 1, nil
		}
	}
	return 0, nil
}

// entriesBefore returns how many of the first n entries of idx point
// before size. Entries grow in offset, so a binary search finds them; the
// caller checks the last few. After a crash the log may have lost lines
// written since the last checkpoint while its index kept their entries
// (Open puts the lines back from the WAL), and this keeps Open from
// rebuilding the index of such a log from its start.
func entriesBefore(idx io.ReaderAt, n, size int64) (int64, error) {
	if n == 0 {
		return 0, nil
	} else if e, err := readEntry(idx, n-1); err != nil || e.off < size {
		return n, err
	}
	lo, hi := int64(0), n-1 // entry hi points at or past size
	for lo < hi {
		mid := lo + (hi-lo)/2
		e, err := readEntry(idx, mid)
		if err != nil {
			return 0, err
		}
		if e.off < size {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo, nil
}

// entryGood reports whether e points at the start of the line with seq want.
func entryGood(log *os.File, size int64, e idxEntry, want uint64) (bool, error) {
	if e.seq != want || e.off < 0 || e.off >= size {
		return false, nil
	}
	if e.off > 0 {
		var b [1]byte
		if _, err := log.ReadAt(b[:], e.off-1); err != nil {
			return false, err
		} else if b[0] != '\n' {
			return false, nil
		}
	}
	lr := newLineReader(io.NewSectionReader(log, e.off, size-e.off), e.off, oneLineBuf)
	line, _, err := lr.next()
	if err != nil {
		return false, nil
	}
	got, err := lineSeq(line)
	return err == nil && got == want, nil
}
