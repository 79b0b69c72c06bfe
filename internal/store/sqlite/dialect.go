package sqlite

import "github.com/heraldhq/herald/internal/store/storesql"

// dialect is the SQL of this driver, for the statements storesql builds.
const dialect = storesql.SQLite
