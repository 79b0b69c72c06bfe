package postgres

import (
	"github.com/heraldhq/herald/internal/store"
	"github.com/heraldhq/herald/internal/store/storesql"
)

// dialect is the SQL of this driver, for the statements storesql builds.
const dialect = storesql.PostgreSQL

// values are this driver's encodings for the statements storesql builds.
var values = &storesql.Values{
	NullText:   func(s string) any { return nstr(s) },
	List:       func(l []string) (any, error) { return list(l), nil },
	Map:        func(m map[string]string) (any, error) { return jsonMap(m), nil },
	OldSecrets: oldSecrets,
	Raw:        rawArg,
	Validation: func(v store.PayloadValidation) any { return validationArg(v) },
}
