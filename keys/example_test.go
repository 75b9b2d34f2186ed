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

func ExampleKeyring_Terms() {
	dk, _ := keys.GenerateDataKey("patients-pii", 1, time.Now())
	kr, _ := keys.NewKeyring([]keys.DataKey{dk})
	last := keys.Column{Schema: "public", Table: "patients", Name: "last"}
	first := keys.Column{Schema: "public", Table: "patients", Name: "first"}

	tl, _ := kr.Terms("patients-pii", 1, last)
	tf, _ := kr.Terms("patients-pii", 1, first)

	// Order terms compare as their sort inputs do (cellcipher.OrderInput
	// makes those from a value).
	a, _ := tl.Ord([]byte("Gleason\x00"))
	b, _ := tl.Ord([]byte("Gleasom\xff"))
	fmt.Println(len(a), string(b) < string(a))

	// One value, one key, two columns: different terms.
	fmt.Println(string(tl.Eq([]byte("Smith"))) == string(tf.Eq([]byte("Smith"))))
	fmt.Println(len(tl.Token([]byte("smi"))), tl)
	// Output:
	// 16 true
	// false
	// 6 keys.Terms{patients-pii v1 public.patients.last}
}
