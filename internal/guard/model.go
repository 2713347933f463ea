package guard

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// The model is logistic regression over hashed features of a canonical
// view plus one input per rule:
//
//	logit = Bias + Σ Hash[h(f)] / √N + Σ Rules[r]·match(r)
//
// where f runs over the N feature occurrences of the view: its words, its
// word bigrams and its character 4-grams (bytes, with a space on each side),
// each hashed into 2^HashBits buckets.
const HashBits = 16

// Model holds the weights. The scanner never changes a Model; Train builds
// one and MarshalBinary/ParseModel store it.
type Model struct {
	Bias  float32
	Rules []float32 // one per rule, in the order of the rule set
	Hash  []float32 // 1 << HashBits
}

// Model file format, little-endian:
//
//	magic   [8]byte "MGUARD01"
//	bits    uint32  HashBits
//	nrules  uint32  number of rule weights
//	bias    float32
//	scale   float32 Hash[i] = q[i] * scale
//	rules   [nrules]float32
//	q       [1<<bits]int16
const modelMagic = "MGUARD01"

// MarshalBinary encodes m in the model file format. Hash weights are stored
// as int16 multiples of one scale; Train quantises the same way, so a
// round trip is exact.
func (m *Model) MarshalBinary() ([]byte, error) {
	if len(m.Hash) != 1<<HashBits {
		return nil, fmt.Errorf("model has %d hash weights, want %d", len(m.Hash), 1<<HashBits)
	}
	scale := quantScale(m.Hash)
	b := make([]byte, 0, 24+4*len(m.Rules)+2*len(m.Hash))
	b = append(b, modelMagic...)
	b = binary.LittleEndian.AppendUint32(b, HashBits)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(m.Rules)))
	b = binary.LittleEndian.AppendUint32(b, math.Float32bits(m.Bias))
	b = binary.LittleEndian.AppendUint32(b, math.Float32bits(scale))
	for _, w := range m.Rules {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(w))
	}
	for _, w := range m.Hash {
		b = binary.LittleEndian.AppendUint16(b, uint16(quantize(w, scale)))
	}
	return b, nil
}

// ParseModel decodes a model file. The file must have been trained for
// this version's rule set.
func ParseModel(b []byte) (*Model, error) {
	if len(b) < 24 || string(b[:8]) != modelMagic {
		return nil, errors.New("not a guard model file")
	}
	bits := binary.LittleEndian.Uint32(b[8:])
	nrules := binary.LittleEndian.Uint32(b[12:])
	if bits != HashBits || int(nrules) != len(rules) {
		return nil, fmt.Errorf("model has %d bits and %d rules, want %d and %d: retrain it", bits, nrules, HashBits, len(rules))
	}
	if len(b) != 24+4*int(nrules)+2<<bits {
		return nil, fmt.Errorf("model file is %d bytes, want %d", len(b), 24+4*int(nrules)+2<<bits)
	}
	m := &Model{
		Bias:  math.Float32frombits(binary.LittleEndian.Uint32(b[16:])),
		Rules: make([]float32, nrules),
		Hash:  make([]float32, 1<<bits),
	}
	scale := math.Float32frombits(binary.LittleEndian.Uint32(b[20:]))
	p := b[24:]
	for i := range m.Rules {
		m.Rules[i] = math.Float32frombits(binary.LittleEndian.Uint32(p))
		p = p[4:]
	}
	for i := range m.Hash {
		m.Hash[i] = float32(int16(binary.LittleEndian.Uint16(p))) * scale
		p = p[2:]
	}
	return m, nil
}

func quantScale(w []float32) float32 {
	var max float32
	for _, x := range w {
		max = float32(math.Max(float64(max), math.Abs(float64(x))))
	}
	if max == 0 {
		return 1
	}
	return max / 32767
}

func quantize(w, scale float32) int16 {
	return int16(math.Round(float64(w / scale)))
}

// quantizeInPlace rounds m.Hash to what MarshalBinary stores.
func (m *Model) quantizeInPlace() {
	scale := quantScale(m.Hash)
	for i, w := range m.Hash {
		m.Hash[i] = float32(quantize(w, scale)) * scale
	}
}

// extractor turns a view into feature indexes and rule matches. It holds
// scratch buffers, so each goroutine needs its own.
type extractor struct {
	idx  []uint32   // hashed feature occurrences
	bits []slotBits // rule slot bits per word
	hits []bool     // rule matches
	pad  []byte
}

const hashMask = 1<<HashBits - 1

func mix(h uint64) uint32 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	return uint32(h) & hashMask
}

// extract fills x.idx and x.hits for view s.
func (x *extractor) extract(set *ruleSet, s string) {
	x.idx = x.idx[:0]
	x.bits = x.bits[:0]
	if cap(x.hits) < len(rules) {
		x.hits = make([]bool, len(rules))
	}
	x.hits = x.hits[:len(rules)]
	clear(x.hits)

	// Words and word bigrams.
	var prev uint64
	for i := 0; i < len(s); {
		if !isWordByte(s[i]) {
			i++
			continue
		}
		j := i
		h := uint64(14695981039346656037)
		for j < len(s) && isWordByte(s[j]) {
			h ^= uint64(s[j])
			h *= 1099511628211
			j++
		}
		x.idx = append(x.idx, mix(h^0x9e3779b97f4a7c15))
		if prev != 0 {
			x.idx = append(x.idx, mix(prev*31+h))
		}
		prev = h
		x.bits = append(x.bits, set.words[s[i:j]])
		i = j
	}
	set.match(x.bits, x.hits)

	// Character 4-grams over " " + s + " ".
	x.pad = append(append(append(x.pad[:0], ' '), s...), ' ')
	p := x.pad
	for i := 0; i+4 <= len(p); i++ {
		v := uint64(binary.LittleEndian.Uint32(p[i:]))
		x.idx = append(x.idx, mix(v|0x4<<40))
	}
}

func isWordByte(c byte) bool {
	return isLower(c) || ('0' <= c && c <= '9') || c >= 0x80
}

// logit scores the features in x.
func (m *Model) logit(x *extractor) float64 {
	var sum float32
	for _, i := range x.idx {
		sum += m.Hash[i]
	}
	z := float64(m.Bias)
	if n := len(x.idx); n > 0 {
		z += float64(sum) / math.Sqrt(float64(n))
	}
	for r, hit := range x.hits {
		if hit {
			z += float64(m.Rules[r])
		}
	}
	return z
}
