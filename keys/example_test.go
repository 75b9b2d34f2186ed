package keys_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/phiguard/phiguard/keys"
)

func Example() {
	dk, _ := keys.GenerateDataKey("patients.ssn", 1, time.Now())
	kr, _ := keys.NewKeyring([]keys.DataKey{dk})
	col := keys.Column{Schema: "public", Table: "patients", Name: "ssn"}

	cell, _ := kr.Encrypt("patients.ssn", keys.Deterministic, col, []byte("999-12-3456"))
	fmt.Println(keys.IsCell(cell), keys.IsCell([]byte("999-12-3456")))

	pt, _ := kr.Decrypt(col, cell)
	fmt.Println(string(pt))

	// The same cell in another column does not decrypt.
	_, err := kr.Decrypt(keys.Column{Schema: "public", Table: "patients", Name: "mrn"}, cell)
	fmt.Println(errors.Is(err, keys.ErrIntegrity))

	fmt.Println(dk.Key)
	// Output:
	// true false
	// 999-12-3456
	// true
	// REDACTED
}
