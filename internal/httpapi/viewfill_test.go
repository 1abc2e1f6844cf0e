package httpapi

import (
	"encoding/json"
	"hash/fnv"
	"reflect"
	"strconv"
	"time"
)

// fill sets every exported field of the value v points to, at any depth,
// to a value that is not zero and depends only on the field's path
// ("ChangeRequest.Policy.Environments[1]"): strings are their path, numbers
// and times are derived from it, every slice has two elements, every map
// one entry, every pointer a value. A field added to a struct changes only
// its own value, not the others'. The views' tests convert such values and
// compare what comes out (views_test.go).
func fill(v any, root string) {
	fillValue(reflect.ValueOf(v).Elem(), root)
}

var rawMessageT = reflect.TypeFor[json.RawMessage]()

func pathHash(path string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(path))
	return h.Sum64()
}

func fillValue(v reflect.Value, path string) {
	h := pathHash(path)
	switch {
	case v.Type() == timeType:
		// calendar-free: derived from the path, compared with no clock
		v.Set(reflect.ValueOf(time.Unix(1_000_000_000+int64(h%50_000_000), 0).UTC()))
		return
	case v.Type() == rawMessageT:
		b, _ := json.Marshal(path)
		v.SetBytes(b)
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(path)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(h%1000) + 1)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(h%100 + 1)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(float64(h%1000) + 0.25)
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fillValue(v.Elem(), path)
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		for i := range 2 {
			fillValue(v.Index(i), path+"["+strconv.Itoa(i)+"]")
		}
	case reflect.Map:
		v.Set(reflect.MakeMap(v.Type()))
		k := reflect.New(v.Type().Key()).Elem()
		fillValue(k, path+"{key}")
		e := reflect.New(v.Type().Elem()).Elem()
		fillValue(e, path+"{}")
		v.SetMapIndex(k, e)
	case reflect.Struct:
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if !f.IsExported() {
				continue
			}
			fillValue(v.Field(i), path+"."+f.Name)
		}
	}
}
