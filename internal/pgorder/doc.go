// Package pgorder orders the values of a protected column as PostgreSQL's
// default btree operator class orders the column's logical type, for the
// proxy-side ORDER BY of issue 13 (guard/protect_sort.go).
//
// It reads canonical text (internal/pgvalue: what PostgreSQL's output
// function prints under DateStyle=ISO, IntervalStyle=postgres,
// TimeZone=UTC) and compares:
//
//	smallint, integer, bigint   as integers
//	numeric                     exactly, as decimals; -Infinity < every
//	                            number < Infinity < NaN
//	real, double precision      as floats; -0 = 0, NaN above everything
//	                            (PostgreSQL's float ordering)
//	boolean                     false < true
//	date, timestamp,
//	timestamptz, time           by their binary value (days or
//	                            microseconds; infinity at the ends)
//	interval                    by total span, a month counted as 30
//	                            days and a day as 24 hours, as
//	                            interval_cmp does ('1 mon' = '30 days')
//	uuid, bytea                 by bytes
//	text, varchar               by bytes: the C collation only; the
//	                            caller refuses any other collation
//	char(n)                     by bytes without trailing spaces, as
//	                            bpchar comparison ignores them
//
// json, jsonb and timetz have no order here (the planner refuses them).
// NULLs are the caller's: Compare never sees one.
//
// SortKey and EqualityKey (sortkey.go) turn a canonical value into bytes
// whose memcmp order and equality are PostgreSQL's (text under C): the
// inputs of the database-side search terms (docs/design/search-terms.md
// §4.2), which cellcipher truncates and keys. Floats have none: the design
// gives them no terms. TestAgainstPostgres checks them beside Compare.
package pgorder
