package guard

import (
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// obfuscation counts the tricks canonical undid while building a view. A
// count is only reported as a finding when the text is judged an injection.
type obfuscation struct {
	zeroWidth int  // zero-width or other format characters inside words
	homoglyph int  // words mixing ASCII letters with look-alikes from other scripts
	bidi      int  // bidi controls anywhere
	spaced    int  // runs of spaced-out letters ("i g n o r e") joined up
	hidden    bool // HTML/markdown comments or hidden spans whose markers were removed
}

// canonical returns the main scoring view of text: NFKC, zero-width and
// other format characters removed, homoglyphs mapped to ASCII, lower case,
// markup markers removed (their contents kept), spaced-out letters joined,
// and every run of white space collapsed to one space.
func canonical(text string, ob *obfuscation) string {
	if !isASCII(text) {
		text = norm.NFKC.String(text)
	}
	buf := make([]byte, 0, len(text)+1)
	var (
		wordASCII, wordMapped bool // the current word has ASCII letters / mapped look-alikes
		prevLetter            bool // the last emitted rune was a letter
		pendingZW             bool // a format character was dropped right after a letter
	)
	endWord := func() {
		if wordASCII && wordMapped {
			ob.homoglyph++
		}
		wordASCII, wordMapped = false, false
	}
	for i := 0; i < len(text); {
		c := text[i]
		if c < utf8.RuneSelf {
			i++
			switch {
			case 'A' <= c && c <= 'Z':
				c += 'a' - 'A'
				fallthrough
			case 'a' <= c && c <= 'z':
				wordASCII = true
				if pendingZW {
					ob.zeroWidth++
					pendingZW = false
				}
				prevLetter = true
				buf = append(buf, c)
				continue
			case '0' <= c && c <= '9':
				prevLetter = false
				buf = append(buf, c)
				continue
			case c == '\n' || c == '\t' || c == ' ' || c == '\r' || c == '\v' || c == '\f':
				if c != '\n' {
					c = ' '
				}
			case c < 0x20 || c == 0x7f:
				c = ' '
			}
			endWord()
			prevLetter, pendingZW = false, false
			buf = append(buf, c)
			continue
		}
		r, size := utf8.DecodeRuneInString(text[i:])
		i += size
		if r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069 {
			ob.bidi++
			continue
		}
		if unicode.Is(unicode.Cf, r) || r == 0x34f || r == 0x115f || r == 0x1160 || r == 0x3164 {
			if prevLetter {
				pendingZW = true
			}
			continue
		}
		if m, ok := homoglyphs[r]; ok {
			wordMapped = true
			if pendingZW {
				ob.zeroWidth++
				pendingZW = false
			}
			prevLetter = true
			buf = append(buf, m)
			continue
		}
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			endWord()
			prevLetter, pendingZW = false, false
			buf = append(buf, ' ')
			continue
		}
		r = unicode.ToLower(r)
		prevLetter = unicode.IsLetter(r)
		if !prevLetter {
			endWord()
			pendingZW = false
		}
		buf = utf8.AppendRune(buf, r)
	}
	endWord()
	buf = stripMarkup(buf, ob)
	return collapseSpace(buf, ob)
}

// homoglyphs maps letters from other scripts that look like ASCII letters
// (after lower-casing) to those letters. Fullwidth and mathematical letters
// are handled by NFKC before this table is consulted.
var homoglyphs = map[rune]byte{
	// Cyrillic
	'а': 'a', 'А': 'a', 'в': 'b', 'В': 'b', 'е': 'e', 'Е': 'e', 'ё': 'e', 'к': 'k', 'К': 'k',
	'м': 'm', 'М': 'm', 'н': 'h', 'Н': 'h', 'о': 'o', 'О': 'o', 'р': 'p', 'Р': 'p',
	'с': 'c', 'С': 'c', 'т': 't', 'Т': 't', 'у': 'y', 'У': 'y', 'х': 'x', 'Х': 'x',
	'ѕ': 's', 'Ѕ': 's', 'і': 'i', 'І': 'i', 'ї': 'i', 'ј': 'j', 'Ј': 'j', 'ԁ': 'd',
	'ӏ': 'l', 'Ӏ': 'l', 'ԛ': 'q', 'ԝ': 'w', 'ɡ': 'g', 'һ': 'h', 'Ь': 'b', 'ь': 'b',
	// Greek
	'α': 'a', 'Α': 'a', 'β': 'b', 'Β': 'b', 'ε': 'e', 'Ε': 'e', 'Ζ': 'z', 'Η': 'h',
	'ι': 'i', 'Ι': 'i', 'κ': 'k', 'Κ': 'k', 'Μ': 'm', 'ν': 'v', 'Ν': 'n', 'ο': 'o',
	'Ο': 'o', 'ρ': 'p', 'Ρ': 'p', 'τ': 't', 'Τ': 't', 'υ': 'u', 'Υ': 'y', 'χ': 'x',
	'Χ': 'x', 'γ': 'y',
	// Latin look-alikes outside ASCII
	'ı': 'i', 'ȷ': 'j', 'ℓ': 'l', 'ǀ': 'l', 'ß': 's',
}

// stripMarkup blanks out HTML comment markers, HTML tags and markdown
// comment markers so that what they hide is scored as plain text. It edits
// buf in place.
func stripMarkup(buf []byte, ob *obfuscation) []byte {
	for i := 0; i < len(buf); i++ {
		switch buf[i] {
		case '<':
			if hasPrefix(buf[i:], "<!--") {
				blank(buf[i : i+4])
				ob.hidden = true
				continue
			}
			// A tag: <name ...>, </name> or <!x>, up to 256 bytes on one line.
			if i+1 < len(buf) && (isLower(buf[i+1]) || buf[i+1] == '/' || buf[i+1] == '!') {
				end := -1
				for j := i + 1; j < len(buf) && j < i+256; j++ {
					if buf[j] == '>' {
						end = j
						break
					}
					if buf[j] == '<' || buf[j] == '\n' {
						break
					}
				}
				if end > 0 {
					tag := buf[i : end+1]
					if containsAny(tag, "display:none", "display: none", "hidden", "font-size:0", "opacity:0") {
						ob.hidden = true
					}
					blank(tag)
					i = end
				}
			}
		case '-':
			if hasPrefix(buf[i:], "-->") {
				blank(buf[i : i+3])
			}
		case '[':
			if hasPrefix(buf[i:], "[//]: #") || hasPrefix(buf[i:], "[comment]: #") {
				ob.hidden = true
				for ; i < len(buf) && buf[i] != '#'; i++ {
					buf[i] = ' '
				}
				buf[i] = ' '
			}
		}
	}
	return buf
}

// collapseSpace joins runs of single letters separated by single spaces
// ("i g n o r e" becomes "ignore"; words are separated by two or more
// spaces or a newline) and collapses all other white space to one space.
// A run must have three letters, or two once the text has shown a run of
// four, so that "a b" in honest text stays as it is.
func collapseSpace(buf []byte, ob *obfuscation) string {
	minRun := 3
	for i := 0; i < len(buf); i++ {
		if (i == 0 || isSpace(buf[i-1])) && spacedRun(buf[i:]) >= 4 {
			minRun = 2
			break
		}
	}
	out := buf[:0] // out never overtakes the read position
	i := 0
	for i < len(buf) && isSpace(buf[i]) {
		i++
	}
	for i < len(buf) {
		// A spaced run starts with a single letter followed by " x".
		if n := spacedRun(buf[i:]); n >= minRun {
			for k := 0; k < n; k++ {
				out = append(out, buf[i+2*k])
			}
			ob.spaced++
			i += 2*n - 1
		} else {
			for i < len(buf) && !isSpace(buf[i]) {
				out = append(out, buf[i])
				i++
			}
		}
		for i < len(buf) && isSpace(buf[i]) {
			i++
		}
		if i < len(buf) {
			out = append(out, ' ')
		}
	}
	return string(out)
}

// spacedRun returns how many single ASCII letters separated by exactly one
// space start b.
func spacedRun(b []byte) int {
	n := 0
	for j := 0; j < len(b) && isLower(b[j]) && (j+1 == len(b) || isSpace(b[j+1])); j += 2 {
		n++
		if j+1 == len(b) || b[j+1] != ' ' || j+2 == len(b) || !isLower(b[j+2]) {
			break
		}
	}
	return n
}

// deleet returns the leetspeak view of a canonical text: in every word that
// mixes ASCII letters with leet characters, 0→o 1→i 3→e 4→a 5→s 7→t @→a $→s
// and |→l. Once three words have done so, words made only of leet
// characters ("4", "15") are read as leet too. It returns "" if no word
// changed.
func deleet(s string) string {
	mixed := 0
	leetWords(s, func(i, j int, letters, leets int) {
		if letters > 0 && leets > 0 && j-i >= 3 {
			mixed++
		}
	})
	if mixed == 0 {
		return ""
	}
	out := make([]byte, 0, len(s))
	last := 0
	leetWords(s, func(i, j int, letters, leets int) {
		if leets == 0 || (letters == 0 && mixed < 3) || (letters > 0 && j-i < 3) {
			return
		}
		out = append(out, s[last:i]...)
		for k := i; k < j; k++ {
			out = append(out, unleet(s[k]))
		}
		last = j
	})
	return string(append(out, s[last:]...))
}

// leetWords calls f for every run s[i:j] of ASCII letters and leet
// characters, with its counts of letters and leet characters. A leading
// digit is a number, not leet (3d, 2fa), unless the run has no letters.
func leetWords(s string, f func(i, j, letters, leets int)) {
	for i := 0; i < len(s); {
		if !isLower(s[i]) && !isLeet(s[i]) {
			i++
			continue
		}
		j, letters, leets, digitLead := i, 0, 0, 0
		for j < len(s) && (isLower(s[j]) || isLeet(s[j])) {
			switch {
			case isLower(s[j]):
				letters++
			case j == i && s[j] >= '0' && s[j] <= '9':
				digitLead = 1
			default:
				leets++
			}
			j++
		}
		if letters == 0 {
			leets += digitLead
		}
		f(i, j, letters, leets)
		i = j
	}
}

func isLeet(c byte) bool {
	switch c {
	case '0', '1', '3', '4', '5', '7', '@', '$', '|':
		return true
	}
	return false
}

func unleet(c byte) byte {
	switch c {
	case '0':
		return 'o'
	case '1':
		return 'i'
	case '3':
		return 'e'
	case '4', '@':
		return 'a'
	case '5', '$':
		return 's'
	case '7':
		return 't'
	case '|':
		return 'l'
	}
	return c
}

func isLower(c byte) bool { return 'a' <= c && c <= 'z' }
func isSpace(c byte) bool { return c == ' ' || c == '\n' }

func blank(b []byte) {
	for i := range b {
		b[i] = ' '
	}
}

func hasPrefix(b []byte, p string) bool { return len(b) >= len(p) && string(b[:len(p)]) == p }

func containsAny(b []byte, subs ...string) bool {
	for _, s := range subs {
		for i := 0; i+len(s) <= len(b); i++ {
			if string(b[i:i+len(s)]) == s {
				return true
			}
		}
	}
	return false
}
