// Package pgvalue converts the values of a protected column between what a
// client sends or expects on the wire and the canonical plaintext that
// phiguard encrypts.
//
// A protected column keeps the logical type the application believes it has
// (policy.LogicalType: date, integer, numeric(14,2), ...) but is stored as a
// text cell. Deterministic encryption only supports equality search if every
// spelling of one value becomes the same plaintext before it is sealed:
// '2020-01-05', ' 2020-1-5 ' and the binary date of that day must seal to the
// same cell. Canonical therefore maps a client's value, in the text or binary
// format of the Bind message or as a literal's text, to the exact text
// PostgreSQL's output function prints for that value, and Present maps the
// decrypted plaintext back to the wire bytes the client asked for in
// RowDescription's or Bind's result format codes.
//
// # Canonical text
//
// The canonical text of a value is what PostgreSQL's output function
// prints for it in a session with DateStyle=ISO, IntervalStyle=postgres,
// extra_float_digits at its default (1), bytea_output=hex and
// TimeZone=UTC, after the column's type modifier has been applied as an
// assignment to the column would apply it:
//
//	text, varchar(n)   the string itself; valid UTF-8 without NUL; for
//	                   varchar(n) a longer value is an error unless the excess
//	                   is all spaces, which are cut off (PostgreSQL's
//	                   assignment rule, not the silent truncation of an
//	                   explicit cast)
//	smallint, integer,
//	bigint             decimal, no sign for zero or positives
//	boolean            t or f
//	numeric(p,s)       plain decimal (never an exponent) with the value's
//	                   display scale, rounded half away from zero to s
//	                   fractional digits when the column has a scale; NaN,
//	                   Infinity, -Infinity
//	date               2020-01-05, 0044-03-15 BC, infinity, -infinity
//	timestamp(p)       2020-01-05 10:00:00.5 (fraction without trailing
//	                   zeros, rounded to p digits), ... BC, infinity
//	timestamptz(p)     the same instant in UTC with PostgreSQL's offset
//	                   suffix: 2020-01-05 10:00:00+00
//	uuid               a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11
//	char(n)            blank-padded to n characters (bpchar_input: a
//	                   longer value is 22001 "value too long for type
//	                   character(n)" unless the excess is spaces); bpchar
//	                   without a length keeps the value as it is
//	real, double       Ryu's shortest text that reads back exactly, as
//	precision          PostgreSQL 15 prints it (1.5, 1e+15, -0, NaN,
//	                   Infinity); it never takes a decimal exactly halfway
//	                   to the next float, which Go's shortest would
//	time(p), timetz(p) 10:00:00.5, rounded to p digits (24:00:00 allowed);
//	                   a timetz keeps its own offset: 10:00:00+02
//	interval           postgres style: 1 year 2 mons -3 days +04:05:06.5
//	bytea              hex: \xdeadbeef
//	json               the text exactly as written (PostgreSQL keeps it)
//	jsonb              jsonb_out's normalised text: keys sorted by length
//	                   then bytes, a duplicate key's last value kept, ", "
//	                   and ": " between members, escapes resolved and
//	                   re-escaped, numbers as numeric prints them
//	an array of any    array_out's text: {a,"b c",NULL}, {{1,2},{3,4}},
//	of these           [0:1]={7,8} when a lower bound is not 1, {}; each
//	                   element its canonical text, quoted when empty,
//	                   NULL, or holding a quote, backslash, brace, comma
//	                   or white space (array.go, array_in.go)
//
// Canonical is idempotent: Canonical of a canonical text is that text.
//
// # Time zones and DateStyle
//
// A timestamptz is an instant, so its canonical text is always written in
// UTC, whatever zone the client wrote it in. Text input without an explicit
// offset ('2020-01-05 10:00') is read, as PostgreSQL reads it, in the
// session's TimeZone. The package-level Canonical and Present assume UTC;
// Converter carries a session's TimeZone: PostgreSQL reports TimeZone in a
// ParameterStatus message at start-up and after every SET, and the proxy
// keeps the reported zone per session (guard/datetime.go: an IANA name
// from the embedded tz database, or a fixed POSIX offset) and converts
// timestamptz values with it. In a DST fall-back hour an
// ambiguous local time takes the offset in force after the transition, and a
// local time skipped by spring-forward takes the offset in force before it,
// as PostgreSQL documents (appendix B, "Handling of Invalid or Ambiguous
// Timestamps"). Converter.Present writes timestamptz text in that zone, as
// PostgreSQL would for the session.
//
// DateStyle is also a session setting (reported in ParameterStatus too),
// and Converter carries it: Present writes dates and timestamps in its
// style (ISO, SQL, Postgres or German, with a timestamptz's zone
// abbreviation where those styles print one), and Canonical reads a date
// written as three numbers (02/03/2024, 3.2.2024, 02/03/24) in its field
// order (MDY or DMY; under YMD only year-first dates are read). Canonical
// text is always ISO. TestDateStyleAgainstPostgres compares every style,
// order and several zones with PostgreSQL 15.
//
// IntervalStyle (reported in ParameterStatus), extra_float_digits and
// bytea_output (not reported: the proxy reads them, guard/output.go) are
// Converter fields too: Present writes intervals in every IntervalStyle,
// floats rounded to 6 or 15 plus extra_float_digits significant digits
// when that is 0 or less, and bytea in the escape format, as PostgreSQL
// does; Canonical reads an interval under sql_standard with its leading
// sign applied to every field. TestMoreTypesAgainstPostgres checks every
// added type's input in text and binary, and its output under each of
// these settings, against PostgreSQL 15.
//
// # What is accepted
//
// Text input accepts the common spellings PostgreSQL accepts: surrounding
// white space; for integers a sign; for booleans every prefix of true,
// false, yes, no, on, off and 1 or 0, in any case; for numeric an exponent,
// NaN and the infinities; for dates and timestamps ISO year-month-day (or
// YYYYMMDD) with a year of at least four digits, an optional time with a
// space or T, a fraction of a second, an offset (+02, -0530, +05:30:15, Z,
// UTC, GMT), BC or AD, infinity, -infinity and epoch. Inputs PostgreSQL
// would accept but this package does not (named time zones in the value,
// month names, DateStyle-dependent orders, 'today' and 'now', which depend
// on the clock) are an error with Unsupported set, never a guess.
//
// For the other types: uuid as uuid_in reads it (braces, hyphens after
// any four digits, any case); char(n) and varchar(n) any text; real and
// double precision a decimal number, NaN, Infinity or Inf in any case and
// sign (hexadecimal floats and NaN(...) are unsupported), a value that
// overflows or rounds to zero is 22003; time and timetz hh:mm[:ss[.f]]
// with AM or PM, an ISO date before it, a numeric offset, Z, UTC or GMT
// (a timetz without an offset takes the session zone's offset on the
// date given, or today's), allballs; interval every unit PostgreSQL
// knows, hh:mm:ss, years-months, @ and a final ago, fractions that spill
// into smaller units, and ISO 8601 with designators (P1Y2M3DT4H; the
// alternative format P0001-02-03T04:05:06 is unsupported; an interval
// whose text PostgreSQL could not read back is refused in binary too);
// bytea the hex and escape formats; json and jsonb any JSON PostgreSQL's
// parser accepts (jsonb also refuses \u0000 and unpaired surrogates, as
// PostgreSQL does). A binary NaN is kept as PostgreSQL's own NaN, not its
// payload bits.
//
// Arrays are read as PostgreSQL 15's array_in reads them (ported step by
// step: the [lb:ub]= decoration, ArrayCount's brace structure and its
// errors, ReadArrayStr's quoting, escapes, white space and NULL) and as
// array_recv reads them (dimensions, flags, the element type in the
// header, each element's length and recv); each element by its type's
// input without the column's modifier, which is then applied to each
// element in turn, as the assignment cast does after the whole array is
// read. TestArraysAgainstPostgres compares 21 array types with
// PostgreSQL 15 in text and binary, SQLSTATEs included.
//
// Binary input follows PostgreSQL's send/recv formats, including its checks
// (range, digit values, trailing bytes); a binary numeric whose digits go
// beyond its display scale is truncated to it, as numeric_recv does.
//
// Errors never contain the value itself: it may be PHI, and the proxy logs
// errors.
package pgvalue
