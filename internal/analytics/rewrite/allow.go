package rewrite

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
)

// The SQL surface is an allow-list decided on DuckDB's own parse tree of the
// exact text that will run: every node type, expression class, table
// reference and function must be named here. Anything DuckDB adds later
// (a new table function, a new statement form) is refused until listed.

// allowedNodeTypes are the typed maps of a read-only SELECT: query nodes,
// table references, result modifiers and ORDER BY directions.
var allowedNodeTypes = setOf(
	"SELECT_NODE", "SET_OPERATION_NODE", "RECURSIVE_CTE_NODE", "CTE_NODE",
	"BASE_TABLE", "JOIN", "SUBQUERY", "TABLE_FUNCTION", "EXPRESSION_LIST", "EMPTY",
	"ORDER_MODIFIER", "LIMIT_MODIFIER", "LIMIT_PERCENT_MODIFIER", "DISTINCT_MODIFIER",
	"ORDER_DEFAULT", "ASCENDING", "DESCENDING",
)

// refusedNodeTypes get a message of their own; everything else unlisted is
// refused as an unsupported construct.
var refusedNodeTypes = map[string]string{
	"SHOW_REF": "SHOW, DESCRIBE and SUMMARIZE are not allowed",
	"PIVOT":    "PIVOT and UNPIVOT are not supported",
}

// allowedExprClasses are the expression classes of DuckDB's parsed
// expressions that compute over the query's own rows.
var allowedExprClasses = setOf(
	"BETWEEN", "CASE", "CAST", "COLLATE", "COLUMN_REF", "COMPARISON", "CONJUNCTION",
	"CONSTANT", "FUNCTION", "LAMBDA", "OPERATOR", "PARAMETER", "POSITIONAL_REFERENCE",
	"STAR", "SUBQUERY", "WINDOW", "LAMBDA_REF",
)

// allowedTableFunctions are the table functions a query may call.
var allowedTableFunctions = setOf("unnest", "range", "generate_series")

// allowedFunctions are the scalar, aggregate and window functions (and
// DuckDB's built-in scalar macros) a query may call: DuckDB 1.5's list minus
// everything that reads settings, the catalog, files, the environment,
// sequences or variables, sleeps, logs, raises errors, or exists for
// internal plumbing (current_setting, getenv, pg_*, duckdb_*, icu_*, error,
// sleep_ms, nextval, json_serialize_sql, ...).
var allowedFunctions = setOf(strings.Fields(`
abs acos acosh add age aggregate ago any_value apply approx_count_distinct approx_quantile
approx_top_k arbitrary arg_max arg_max_null arg_max_nulls_last arg_min arg_min_null
arg_min_nulls_last argmax argmin array_agg array_aggr array_aggregate array_append array_apply
array_cat array_concat array_contains array_cosine_distance array_cosine_similarity
array_cross_product array_distance array_distinct array_dot_product array_extract array_filter
array_grade_up array_has array_has_all array_has_any array_indexof array_inner_product
array_intersect array_length array_negative_dot_product array_negative_inner_product
array_pop_back array_pop_front array_position array_prepend array_push_back array_push_front
array_reduce array_resize array_reverse array_reverse_sort array_select array_slice array_sort
array_to_json array_to_string array_transform array_unique array_value array_where array_zip
ascii asin asinh atan atan2 atanh avg bar base64 bin bit_and bit_count bit_length bit_or
bit_position bit_xor bitstring bitstring_agg bool_and bool_or cardinality cbrt ceil ceiling
century char_length character_length chr concat concat_ws contains corr cos cosh cot count
count_if count_star countif covar_pop covar_samp cume_dist current_date current_localtime
current_localtimestamp damerau_levenshtein date_add date_diff date_part date_sub date_trunc
datediff datepart datesub datetrunc day dayname dayofmonth dayofweek dayofyear days_in_month
decade decode degrees dense_rank divide editdist3 element_at encode ends_with entropy enum_code
enum_first enum_last enum_range enum_range_boundary epoch epoch_ms epoch_ns epoch_us
equi_width_bins era even exp factorial favg fdiv fill filter first first_value flatten floor
fmod format formatReadableDecimalSize formatReadableSize format_bytes from_base64 from_binary
from_hex from_json from_json_strict fsum gamma gcd gen_random_uuid generate_series
generate_subscripts geomean geometric_mean get_bit get_current_time get_current_timestamp
grade_up greatest greatest_common_divisor group_concat hamming hash hex histogram
histogram_exact hour ilike_escape instr isfinite isinf isnan isodow isoyear jaccard
jaro_similarity jaro_winkler_similarity json json_array json_array_length json_contains
json_exists json_extract json_extract_path json_extract_path_text json_extract_string
json_group_array json_group_object json_group_structure json_keys json_merge_patch json_object
json_pretty json_quote json_structure json_transform json_transform_strict json_type json_valid
json_value julian kahan_sum kurtosis kurtosis_pop lag last last_day last_value lcase lcm lead
least least_common_multiple left left_grapheme len length length_grapheme levenshtein lgamma
like_escape list list_aggr list_aggregate list_any_value list_append list_apply
list_approx_count_distinct list_avg list_bit_and list_bit_or list_bit_xor list_bool_and
list_bool_or list_cat list_concat list_contains list_cosine_distance list_cosine_similarity
list_count list_distance list_distinct list_dot_product list_element list_entropy list_extract
list_filter list_first list_grade_up list_has list_has_all list_has_any list_histogram
list_indexof list_inner_product list_intersect list_kurtosis list_kurtosis_pop list_last
list_mad list_max list_median list_min list_mode list_negative_dot_product
list_negative_inner_product list_pack list_position list_prepend list_product list_reduce
list_resize list_reverse list_reverse_sort list_select list_sem list_skewness list_slice
list_sort list_stddev_pop list_stddev_samp list_string_agg list_sum list_transform list_unique
list_value list_var_pop list_var_samp list_where list_zip listagg ln log log10 log2 lower lpad
ltrim mad make_date make_time make_timestamp make_timestamp_ms make_timestamp_ns
make_timestamptz map map_concat map_contains map_contains_entry map_contains_value map_entries
map_extract map_extract_value map_from_entries map_keys map_values max max_by md5 md5_number
md5_number_lower md5_number_upper mean median microsecond millennium millisecond min min_by
minute mismatches mod mode month monthname multiply nanosecond nextafter nfc_normalize
normalized_interval not_ilike_escape not_like_escape now nth_value ntile nullif octet_length ord
parse_dirname parse_dirpath parse_filename parse_formatted_bytes parse_path percent_rank pi
position pow power prefix printf product quantile quantile_cont quantile_disc quarter radians
random range rank rank_dense reduce regexp_escape regexp_extract regexp_extract_all
regexp_full_match regexp_matches regexp_replace regexp_split_to_array regexp_split_to_table
regr_avgx regr_avgy regr_count regr_intercept regr_r2 regr_slope regr_sxx regr_sxy regr_syy
repeat replace reservoir_quantile reverse right right_grapheme round round_even roundbankers row
row_number row_to_json rpad rtrim second sem set_bit sha1 sha256 sign signbit sin sinh skewness
split split_part sqrt starts_with stddev stddev_pop stddev_samp str_split str_split_regex
strftime string_agg string_split string_split_regex string_to_array strip_accents strlen strpos
strptime struct_concat struct_contains struct_extract struct_extract_at struct_has
struct_indexof struct_insert struct_keys struct_pack struct_position struct_update struct_values
substr substring substring_grapheme subtract suffix sum sum_no_overflow sumkahan switch tan tanh
time_bucket timezone timezone_hour timezone_minute to_base to_base64 to_binary to_centuries
to_days to_decades to_hex to_hours to_json to_microseconds to_millennia to_milliseconds
to_minutes to_months to_quarters to_seconds to_timestamp to_weeks to_years today
transaction_timestamp translate trim trunc try_strptime typeof ucase unbin unhex unicode
union_extract union_tag union_value unpivot_list upper url_decode url_encode uuid
uuid_extract_timestamp uuid_extract_version uuidv4 uuidv7 var_pop var_samp variance wavg week
weekday weekofyear weighted_avg xor year yearweek
unnest current_timestamp localtimestamp localtime
`)...)

// allowedOperators are the operators that DuckDB's tree names as functions.
var allowedOperators = setOf(strings.Fields(`!__postfix !~~ !~~* % & && * ** + - ->> / // <-> << <=> <@ >> @ @> ^ ^@ | || ~ ~~ ~~* ~~~`)...)

func setOf(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// scope is the set of CTE names visible at a point of the tree.
type scope struct {
	names  map[string]bool
	parent *scope
}

func (s *scope) has(name string) bool {
	for ; s != nil; s = s.parent {
		if s.names[strings.ToLower(name)] {
			return true
		}
	}
	return false
}

func (s *scope) with(names ...string) *scope {
	if len(names) == 0 {
		return s
	}
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[strings.ToLower(n)] = true
	}
	return &scope{names: m, parent: s}
}

// walkScoped calls visit on every map of the tree with the CTE names in scope
// there. A CTE is visible in the rest of its own query node (select list,
// FROM, WHERE, subqueries) and in the CTEs after it in the same WITH; a
// recursive CTE also in its own body. That is no wider than DuckDB's binder,
// so a name the check takes for a CTE is never bound to a catalog table.
func walkScoped(n any, sc *scope, visit func(m map[string]any, sc *scope) error) error {
	switch v := n.(type) {
	case map[string]any:
		if err := visit(v, sc); err != nil {
			return err
		}
		if t, _ := v["type"].(string); t == "RECURSIVE_CTE_NODE" {
			name, _ := v["cte_name"].(string)
			sc = sc.with(name)
		}
		inner := sc
		if cm, ok := v["cte_map"].(map[string]any); ok {
			entries, _ := cm["map"].([]any)
			var seen []string
			for _, e := range entries {
				em, _ := e.(map[string]any)
				if em == nil {
					continue
				}
				if err := walkScoped(em["value"], sc.with(seen...), visit); err != nil {
					return err
				}
				if k, ok := em["key"].(string); ok {
					seen = append(seen, k)
				}
			}
			inner = sc.with(seen...)
		}
		for k, c := range v {
			if k == "cte_map" {
				continue
			}
			if err := walkScoped(c, inner, visit); err != nil {
				return err
			}
		}
	case []any:
		for _, c := range v {
			if err := walkScoped(c, sc, visit); err != nil {
				return err
			}
		}
	}
	return nil
}

// parse returns DuckDB's parse tree of one statement.
func (r *Rewriter) parse(ctx context.Context, text string) (map[string]any, error) {
	var tree string
	if err := r.db.QueryRowContext(ctx, `SELECT json_serialize_sql($1::VARCHAR)::VARCHAR`, text).Scan(&tree); err != nil {
		return nil, errorf("parse: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(tree))
	dec.UseNumber() // query_location is a uint64 that float64 would round
	var root map[string]any
	if err := dec.Decode(&root); err != nil {
		return nil, fmt.Errorf("parse tree: %w", err)
	}
	if e, _ := root["error"].(bool); e {
		msg, _ := root["error_message"].(string)
		if strings.Contains(msg, "Only SELECT") {
			return nil, errorf("only SELECT and WITH queries are allowed")
		}
		return nil, errorf("%s", msg)
	}
	stmts, _ := root["statements"].([]any)
	if len(stmts) != 1 {
		return nil, errorf("exactly one SELECT statement is allowed")
	}
	stmt, _ := stmts[0].(map[string]any)
	if stmt == nil {
		return nil, errorf("exactly one SELECT statement is allowed")
	}
	return root, nil
}

// check parses the text that will run and holds its tree to the allow-list:
// the only tables it may read are tables (collections' DuckDB tables, or
// _input for a transformation) and CTEs in scope.
func (r *Rewriter) check(ctx context.Context, text string, tables map[string]bool) error {
	root, err := r.parse(ctx, text)
	if err != nil {
		return err
	}
	stmt := root["statements"].([]any)[0]
	return walkScoped(stmt, nil, func(m map[string]any, sc *scope) error {
		return allowed(m, sc, tables)
	})
}

func allowed(m map[string]any, sc *scope, tables map[string]bool) error {
	typ, _ := m["type"].(string)
	if cls, ok := m["class"].(string); ok {
		if !allowedExprClasses[cls] {
			return errorf("%s expressions are not allowed", strings.ToLower(cls))
		}
		switch cls {
		case "FUNCTION", "WINDOW":
			return allowedFunction(m)
		}
		return nil
	}
	if typ == "" {
		return nil // not a node: a constant's value, a cast's type, a CTE entry
	}
	if msg, ok := refusedNodeTypes[typ]; ok {
		return errorf("%s", msg)
	}
	if !allowedNodeTypes[typ] {
		return errorf("%s is not supported", strings.ToLower(strings.ReplaceAll(typ, "_", " ")))
	}
	switch typ {
	case "BASE_TABLE":
		catalog, _ := m["catalog_name"].(string)
		schema, _ := m["schema_name"].(string)
		name, _ := m["table_name"].(string)
		if catalog == "" && schema == "" && (sc.has(name) || tables[name]) {
			return nil
		}
		return errorf("%s is not a collection of this server", strings.Trim(catalog+"."+schema+"."+name, "."))
	case "TABLE_FUNCTION":
		fn, _ := m["function"].(map[string]any)
		name, _ := fn["function_name"].(string)
		if s, _ := fn["schema"].(string); s != "" || !allowedTableFunctions[strings.ToLower(name)] {
			return errorf("table function %s is not allowed", name)
		}
	}
	return nil
}

func allowedFunction(m map[string]any) error {
	name, _ := m["function_name"].(string)
	catalog, _ := m["catalog"].(string)
	schema, _ := m["schema"].(string)
	// DuckDB itself spells list and struct literals as main.list_value and
	// main.struct_pack; the built-ins live in system.main.
	if (catalog != "" && catalog != "system") || (schema != "" && schema != "main") {
		return errorf("function %s is not allowed", strings.Trim(catalog+"."+schema+"."+name, "."))
	}
	if !allowedFunctions[strings.ToLower(name)] && !allowedOperators[name] {
		return errorf("function %s is not allowed", name)
	}
	return nil
}
