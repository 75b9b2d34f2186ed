package pgcollate

/*
#define _GNU_SOURCE
#include <locale.h>
#include <langinfo.h>
#include <stdlib.h>
#include <string.h>
#include <gnu/libc-version.h>
#include <wctype.h>

// pgcollate_case maps each code point with towlower_l (upper == 0) or
// towupper_l, in place: PostgreSQL's lower() and upper() under a libc
// locale map each wide character alone (str_tolower, str_toupper).
static void pgcollate_case(locale_t loc, int upper, unsigned int *cs, size_t n) {
	for (size_t i = 0; i < n; i++)
		cs[i] = upper ? (unsigned int)towupper_l((wint_t)cs[i], loc) : (unsigned int)towlower_l((wint_t)cs[i], loc);
}

static locale_t pgcollate_open(const char *name) {
	return newlocale(LC_COLLATE_MASK | LC_CTYPE_MASK, name, (locale_t)0);
}

static const char *pgcollate_codeset(locale_t loc) {
	return nl_langinfo_l(CODESET, loc);
}

// pgcollate_cmp is varstr_cmp for a libc collation: strcoll_l on
// NUL-terminated copies, then strcmp to break a tie.
static int pgcollate_cmp(locale_t loc, const char *a, size_t alen, const char *b, size_t blen) {
	char abuf[256], bbuf[256];
	char *ap = alen < sizeof abuf ? abuf : malloc(alen + 1);
	char *bp = blen < sizeof bbuf ? bbuf : malloc(blen + 1);
	int r = -2;
	if (ap != NULL && bp != NULL) {
		if (alen > 0)
			memcpy(ap, a, alen);
		ap[alen] = 0;
		if (blen > 0)
			memcpy(bp, b, blen);
		bp[blen] = 0;
		r = strcoll_l(ap, bp, loc);
		if (r == 0)
			r = strcmp(ap, bp);
		r = r < 0 ? -1 : (r > 0 ? 1 : 0);
	}
	if (ap != abuf)
		free(ap);
	if (bp != bbuf)
		free(bp);
	return r;
}
// pgcollate_xfrm is strxfrm_l of a NUL-terminated copy of s into dst
// (dstlen bytes); it returns the length of the whole transform, which
// exceeds dstlen when dst was too small, or (size_t)-1 out of memory.
static size_t pgcollate_xfrm(locale_t loc, const char *s, size_t slen, char *dst, size_t dstlen) {
	char buf[256];
	char *sp = slen < sizeof buf ? buf : malloc(slen + 1);
	if (sp == NULL)
		return (size_t)-1;
	if (slen > 0)
		memcpy(sp, s, slen);
	sp[slen] = 0;
	size_t n = strxfrm_l(dst, sp, dstlen, loc);
	if (sp != buf)
		free(sp);
	return n;
}
*/
import "C"

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"
	"unsafe"
)

// Locale is an opened libc locale. It is safe for concurrent use:
// strcoll_l reads the locale and nothing else.
type Locale struct {
	name string
	loc  C.locale_t
}

var (
	mu     sync.Mutex
	opened = map[string]*Locale{}
)

// ErrNotInstalled is Open's error for a locale this machine lacks.
var ErrNotInstalled = errors.New("not installed")

// Open returns the locale of that name, opening it the first time. It
// refuses a name with a NUL, one the C library cannot open
// (ErrNotInstalled) and one whose codeset is not UTF-8: phiguard's
// plaintext is UTF-8, and a locale of another codeset would misread it.
func Open(name string) (*Locale, error) {
	mu.Lock()
	defer mu.Unlock()
	if l, ok := opened[name]; ok {
		return l, nil
	}
	if name == "" || strings.IndexByte(name, 0) >= 0 {
		return nil, fmt.Errorf("locale %q: not a locale name", name)
	}
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	loc := C.pgcollate_open(cname)
	if loc == nil {
		return nil, fmt.Errorf("locale %s: %w", name, ErrNotInstalled)
	}
	codeset := C.GoString(C.pgcollate_codeset(loc))
	if codeset != "UTF-8" {
		C.freelocale(loc)
		return nil, fmt.Errorf("locale %s: codeset %s, not UTF-8", name, codeset)
	}
	l := &Locale{name: name, loc: loc}
	opened[name] = l
	return l, nil
}

// Name is the locale's name as opened.
func (l *Locale) Name() string { return l.name }

// Compare orders a and b as PostgreSQL's varstr_cmp does under this
// locale: -1, 0 (only for equal bytes) or 1. Neither may hold a NUL,
// which PostgreSQL text cannot.
func (l *Locale) Compare(a, b []byte) int {
	r := C.pgcollate_cmp(l.loc, bytesPtr(a), C.size_t(len(a)), bytesPtr(b), C.size_t(len(b)))
	if r == -2 {
		panic("pgcollate: out of memory")
	}
	return int(r)
}

// SortKey is the first level of strxfrm_l(s) under this locale (the
// primary weights, up to glibc's level separator 0x01): bytes whose memcmp
// order never contradicts PostgreSQL's order of the strings, for the
// search terms' order input (docs/design/search-terms.md §4.2). a < b under
// PostgreSQL implies SortKey(a) <= SortKey(b); strings differing only in
// case, accents or punctuation may tie.
//
// Not the whole of strxfrm_l: glibc's strxfrm and strcoll disagree past
// the first level (under en_US.utf8 strcoll puts "1è" before "1-É",
// strxfrm's second level after), which is why PostgreSQL does not use
// strxfrm for libc collations. Both compare the first level first, so a
// key of that level alone agrees; TestSortKeyAgainstPostgres checks it
// against PostgreSQL 15. s may not hold a NUL, which PostgreSQL text
// cannot.
func (l *Locale) SortKey(s []byte) []byte {
	k := l.xfrm(s)
	if i := bytes.IndexByte(k, 1); i >= 0 {
		k = k[:i]
	}
	return k
}

// xfrm is strxfrm_l(s), all levels. The first buffer fits glibc's
// usual length (four levels, 1-2 bytes a character each: 78 bytes for
// "Gleason123"), so a second call is rare.
func (l *Locale) xfrm(s []byte) []byte {
	dst := make([]byte, 8*len(s)+32)
	for {
		n := C.pgcollate_xfrm(l.loc, bytesPtr(s), C.size_t(len(s)), bytesPtr(dst), C.size_t(len(dst)))
		if n == ^C.size_t(0) {
			panic("pgcollate: out of memory")
		}
		if int(n) < len(dst) {
			return dst[:n]
		}
		dst = make([]byte, int(n)+1)
	}
}

// Lower is PostgreSQL's lower() of UTF-8 text under this locale: each
// character mapped with towlower_l. It refuses invalid UTF-8, which
// PostgreSQL text cannot hold.
func (l *Locale) Lower(s []byte) ([]byte, error) { return l.mapCase(s, 0) }

// Upper is PostgreSQL's upper() under this locale (towupper_l).
func (l *Locale) Upper(s []byte) ([]byte, error) { return l.mapCase(s, 1) }

func (l *Locale) mapCase(s []byte, upper C.int) ([]byte, error) {
	if !utf8.Valid(s) {
		return nil, errors.New("pgcollate: text is not valid UTF-8")
	}
	cs := make([]C.uint, 0, len(s))
	for _, r := range string(s) {
		cs = append(cs, C.uint(r))
	}
	if len(cs) > 0 {
		C.pgcollate_case(l.loc, upper, &cs[0], C.size_t(len(cs)))
	}
	out := make([]byte, 0, len(s))
	for _, c := range cs {
		out = utf8.AppendRune(out, rune(c))
	}
	return out, nil
}

func bytesPtr(b []byte) *C.char {
	if len(b) == 0 {
		return nil
	}
	return (*C.char)(unsafe.Pointer(&b[0]))
}

// Version is the C library's version: what PostgreSQL records as a libc
// collation's version on the same C library (glibc's
// gnu_get_libc_version).
func Version() string { return C.GoString(C.gnu_get_libc_version()) }
