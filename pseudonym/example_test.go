package pseudonym

import (
	"bytes"
	"context"
	"fmt"
)

func ExamplePseudonymizer_PseudonymizeFilename() {
	keys := NewStaticKeys(bytes.Repeat([]byte{7}, 32)) // for tests only
	p, err := New(Config{}, keys, NewMemoryStore())
	if err != nil {
		panic(err)
	}
	name, c, err := p.PseudonymizeFilename(context.Background(), "Anna_Andersson_19121212-1212.pdf")
	if err != nil {
		panic(err)
	}
	fmt.Println(name)
	fmt.Printf("names %d, personnummer %d\n", c.Names, c.Personnummer)
	// Output:
	// sl_name1_qphpjpb7pgz8vges_sl_name1_bgv15tn01fpmhemh_sl_pnr1c_4ddy4h46wq7cw4kk.pdf
	// names 2, personnummer 1
}
