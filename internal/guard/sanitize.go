package guard

import (
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/the-mesh/mesh"
)

// Sanitize normalises text for storage and display. It returns the text in
// Unicode NFC, or an error if the text must be refused.
//
// The decision for each class of character:
//
//   - Invalid UTF-8: refused. There is no safe way to guess what was meant.
//   - Bidi overrides and isolates (U+202A–U+202E, U+2066–U+2069): refused.
//     They reorder what a reader sees without changing what a program
//     reads ("Trojan Source"), and stripping them would silently change the
//     displayed meaning, so the sender must fix the text. The bidi marks
//     U+200E, U+200F and U+061C are kept: they cannot reorder a run.
//   - C0 controls other than \n and \t (this includes \r: send \n line
//     ends), DEL and C1 controls (U+0080–U+009F): refused. They have no
//     meaning in a chat message and can drive terminals.
//   - Zero-width characters (U+200B, U+200C, U+200D, U+2060, U+FEFF):
//     stripped. They are invisible, common in pasted text (a byte-order mark,
//     word-joiners from editors), and carry no meaning a reader can see, so
//     refusing them would reject honest text. One exception: U+200D ZERO
//     WIDTH JOINER between two pictographs is kept, because it builds emoji
//     sequences such as 👩‍💻.
//
// Stripping happens before NFC, so Sanitize is idempotent:
// Sanitize(Sanitize(s)) == Sanitize(s) for every s it accepts.
//
// The error is a *mesh.Error with code mesh.EInvalid whose message names the
// character (U+XXXX) and its 1-based character position in text.
func Sanitize(text string) (string, error) {
	strip := false
	pos := 0
	for i, r := range text {
		pos++
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(text[i:]); size == 1 {
				return "", mesh.Errorf(mesh.EInvalid, "Text is not valid UTF-8 at character %d.", pos)
			}
		}
		switch class := classify(r); class {
		case classBidi, classControl:
			return "", mesh.Errorf(mesh.EInvalid, "Text contains %s U+%04X at character %d.", class, r, pos)
		case classZeroWidth:
			strip = true
		}
	}
	if strip {
		text = stripZeroWidth(text)
	}
	if isASCII(text) {
		return text, nil // ASCII is already in every normal form
	}
	return norm.NFC.String(text), nil
}

// charClass is what Sanitize does with a character.
type charClass int

const (
	classOK charClass = iota
	classBidi
	classControl
	classZeroWidth
)

func (c charClass) String() string {
	switch c {
	case classBidi:
		return "the bidi override"
	case classControl:
		return "the control character"
	case classZeroWidth:
		return "the zero-width character"
	}
	return "the character"
}

func classify(r rune) charClass {
	switch {
	case r == '\n' || r == '\t':
		return classOK
	case r < 0x20 || (r >= 0x7f && r <= 0x9f):
		return classControl
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return classBidi
	case isZeroWidth(r):
		return classZeroWidth
	}
	return classOK
}

func isZeroWidth(r rune) bool {
	return (r >= 0x200b && r <= 0x200d) || r == 0x2060 || r == 0xfeff
}

// stripZeroWidth removes zero-width characters, keeping U+200D between two
// pictographs (emoji ZWJ sequences).
func stripZeroWidth(text string) string {
	out := make([]byte, 0, len(text))
	var prev rune
	for i, r := range text {
		if isZeroWidth(r) {
			if r == 0x200d && isPictograph(prev) {
				next, _ := utf8.DecodeRuneInString(text[i+utf8.RuneLen(r):])
				if isPictograph(next) {
					out = utf8.AppendRune(out, r)
					prev = r
				}
			}
			continue
		}
		out = utf8.AppendRune(out, r)
		prev = r
	}
	return string(out)
}

// isPictograph approximates Extended_Pictographic plus the emoji modifiers and
// variation selector that may sit before a ZWJ.
func isPictograph(r rune) bool {
	return (r >= 0x1f000 && r <= 0x1faff) || (r >= 0x2600 && r <= 0x27bf) || r == 0xfe0f || r == 0x2640 || r == 0x2642
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
