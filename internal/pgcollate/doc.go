// Package pgcollate compares text as PostgreSQL does under a libc
// collation other than C and POSIX (en_US.utf8, de_DE.utf8, C.utf8), for
// the proxy-side ORDER BY and WHERE of issue 13 (guard/protect_sort.go,
// guard/protect_filter.go), which see decrypted values PostgreSQL never
// sees.
//
// PostgreSQL orders text under a libc collation with the C library's
// strcoll_l and breaks a tie with strcmp (varstr_cmp; a deterministic
// collation), so two different strings never compare equal. It does not
// use strxfrm for libc collations: glibc's strxfrm has disagreed with its
// strcoll. This package does the same through cgo, with a locale_t opened
// once per locale name and kept for the process's life.
//
// SortKey, for the database-side search terms' order input, is the one
// use of strxfrm_l here, and only its first level: on glibc 2.36 the whole
// strxfrm output orders some strings against strcoll (TestXfrmDisagrees),
// while the primary weights never contradict PostgreSQL's order
// (TestSortKeyAgainstPostgres, FuzzSortKey).
//
// Lower and Upper are PostgreSQL's lower() and upper() under such a
// locale (str_tolower: towlower_l on each wide character), for ILIKE and
// lower(col) comparisons. TestCaseAgainstPostgres checks every code point
// against PostgreSQL 15.
//
// The answer is PostgreSQL's only where phiguard's C library has the
// database server's collation data. Open checks what it can: the locale
// must be installed where phiguard runs, with the UTF-8 codeset, and the
// caller compares Version with the version PostgreSQL reports for the
// collation (pg_collation_actual_version: the server's glibc version),
// refusing when they differ, as PostgreSQL itself warns of a collation
// version mismatch.
package pgcollate
