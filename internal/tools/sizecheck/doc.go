// Command sizecheck keeps the guard and the rewriter readable: no
// non-test file in the packages it is given over 600 lines, no function
// over 80. `make lint` runs it on proxy and sqlrewrite; it names every
// file and function over the limit and exits 1.
package main
