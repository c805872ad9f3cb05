package lint

import (
	"fmt"
	"unicode"
)

// runeNames names the characters that most often end up in a pasted secret. The Unicode
// names are the official ones, so a reader can search for them.
var runeNames = map[rune]string{
	0x00:   "NULL",
	0x09:   "CHARACTER TABULATION (tab)",
	0x0a:   "LINE FEED (\\n)",
	0x0b:   "LINE TABULATION",
	0x0c:   "FORM FEED",
	0x0d:   "CARRIAGE RETURN (\\r)",
	0x1b:   "ESCAPE",
	0x20:   "SPACE",
	0x7f:   "DELETE",
	0x85:   "NEXT LINE",
	0xa0:   "NO-BREAK SPACE",
	0xad:   "SOFT HYPHEN",
	0x2002: "EN SPACE",
	0x2003: "EM SPACE",
	0x2009: "THIN SPACE",
	0x200a: "HAIR SPACE",
	0x200b: "ZERO WIDTH SPACE",
	0x200c: "ZERO WIDTH NON-JOINER",
	0x200d: "ZERO WIDTH JOINER",
	0x200e: "LEFT-TO-RIGHT MARK",
	0x200f: "RIGHT-TO-LEFT MARK",
	0x2010: "HYPHEN",
	0x2011: "NON-BREAKING HYPHEN",
	0x2012: "FIGURE DASH",
	0x2013: "EN DASH",
	0x2014: "EM DASH",
	0x2018: "LEFT SINGLE QUOTATION MARK",
	0x2019: "RIGHT SINGLE QUOTATION MARK",
	0x201c: "LEFT DOUBLE QUOTATION MARK",
	0x201d: "RIGHT DOUBLE QUOTATION MARK",
	0x2022: "BULLET",
	0x2026: "HORIZONTAL ELLIPSIS",
	0x2028: "LINE SEPARATOR",
	0x2029: "PARAGRAPH SEPARATOR",
	0x202a: "LEFT-TO-RIGHT EMBEDDING",
	0x202c: "POP DIRECTIONAL FORMATTING",
	0x202e: "RIGHT-TO-LEFT OVERRIDE",
	0x202f: "NARROW NO-BREAK SPACE",
	0x2060: "WORD JOINER",
	0x2212: "MINUS SIGN",
	0x3000: "IDEOGRAPHIC SPACE",
	0xfeff: "ZERO WIDTH NO-BREAK SPACE (byte order mark)",
	0xfffd: "REPLACEMENT CHARACTER",
}

// homoglyphs maps Cyrillic and Greek letters that look like Latin ones to the Latin
// letter they imitate.
var homoglyphs = map[rune]rune{
	// Cyrillic
	'а': 'a', 'е': 'e', 'о': 'o', 'р': 'p', 'с': 'c', 'у': 'y', 'х': 'x', 'і': 'i', 'ј': 'j',
	'ѕ': 's', 'ԁ': 'd', 'һ': 'h', 'ԛ': 'q', 'ԝ': 'w', 'ӏ': 'l',
	'А': 'A', 'В': 'B', 'Е': 'E', 'К': 'K', 'М': 'M', 'Н': 'H', 'О': 'O', 'Р': 'P', 'С': 'C',
	'Т': 'T', 'Х': 'X', 'У': 'Y', 'І': 'I', 'Ј': 'J', 'Ѕ': 'S',
	// Greek
	'Α': 'A', 'Β': 'B', 'Ε': 'E', 'Ζ': 'Z', 'Η': 'H', 'Ι': 'I', 'Κ': 'K', 'Μ': 'M', 'Ν': 'N',
	'Ο': 'O', 'Ρ': 'P', 'Τ': 'T', 'Υ': 'Y', 'Χ': 'X', 'ο': 'o', 'ν': 'v', 'α': 'a',
}

// describeRune names a character for evidence: "U+200B ZERO WIDTH SPACE",
// "U+0430 CYRILLIC SMALL LETTER (looks like Latin 'a')".
func describeRune(r rune) string {
	cp := fmt.Sprintf("U+%04X", r)
	if name, ok := runeNames[r]; ok {
		return cp + " " + name
	}
	if latin, ok := homoglyphs[r]; ok {
		script := "CYRILLIC"
		if unicode.Is(unicode.Greek, r) {
			script = "GREEK"
		}
		c := "SMALL"
		if unicode.IsUpper(r) {
			c = "CAPITAL"
		}
		return fmt.Sprintf("%s %s %s LETTER (looks like Latin '%c')", cp, script, c, latin)
	}
	switch {
	case r >= 0xff01 && r <= 0xff5e:
		return fmt.Sprintf("%s FULLWIDTH form of '%c'", cp, r-0xff01+'!')
	case r < 0x20 || (r >= 0x7f && r < 0xa0):
		return cp + " control character"
	case unicode.Is(unicode.Cf, r):
		return cp + " invisible format character"
	case unicode.IsSpace(r):
		return cp + " space character"
	case unicode.Is(unicode.Cyrillic, r):
		return cp + " Cyrillic letter"
	case unicode.Is(unicode.Greek, r):
		return cp + " Greek letter"
	case unicode.IsLetter(r):
		return cp + " non-ASCII letter"
	case unicode.IsPunct(r) || unicode.IsSymbol(r):
		return cp + " non-ASCII punctuation or symbol"
	}
	return cp + " non-ASCII character"
}
