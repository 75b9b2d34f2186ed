// Package cellcipher is the one column cipher: how a protected column's
// values become cells and cells become values again, for the proxy and the
// backfill alike. It decides, per column, the encryption mode, the
// associated data a cell is bound to, whether the cell is sealed under the
// column key or its row's subject key, and what a stored value that is not
// a cell (legacy plaintext) means. Before it existed the proxy and the
// backfill each wrote this down and agreed only because a comment said so.
//
// It knows keys (the cell format and key material) and policy (the
// column's mode, key and subject column); it knows nothing of SQL or the
// wire.
package cellcipher
