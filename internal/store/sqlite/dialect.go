package sqlite

import "github.com/heraldhq/herald/internal/store/storesql"

// dialect is the SQL of this driver, for the statements storesql builds.
const dialect = storesql.SQLite

// values are this driver's encodings for the statements storesql builds.
var values = &storesql.Values{
	NullText:   nstr,
	List:       func(l []string) (any, error) { return jsonList(l) },
	Map:        func(m map[string]string) (any, error) { return jsonMap(m) },
	OldSecrets: oldSecretsArg,
	Raw:        rawArg,
	Validation: validationArg,
}
