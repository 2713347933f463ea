package jsonl

import "io"

// ErrCorrupt and ScanLog expose the line scanner to the fuzz test.
var ErrCorrupt = errCorrupt

// ScanLog scans r from seq 1 at offset 0 and returns the offsets marked
// for the index.
func ScanLog(r io.Reader, every int) (next uint64, end int64, marks []int64, err error) {
	next, end, err = scanLog(r, 0, 1, every, func(seq uint64, off int64) { marks = append(marks, off) })
	return next, end, marks, err
}

// LineSeq exposes lineSeq to the fuzz test.
var LineSeq = lineSeq
