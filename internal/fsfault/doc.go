// Package fsfault makes the file system faults an operator meets — a
// directory the process cannot write, a full disk — real for tests on
// Linux: the kernel refuses the writes, nothing is mocked.
//
// Root ignores permission bits, so Unwritable sets the immutable
// attribute (chattr +i) when running as root and clears the write bits
// otherwise. Mount puts a small tmpfs over a directory, which Disk.Fill
// fills to ENOSPC and Disk.Free frees; mounting needs root
// (CAP_SYS_ADMIN). Each skips the test when the system does not allow it
// and undoes what it did in t.Cleanup. The package builds on Linux only.
package fsfault
