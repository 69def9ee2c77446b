; Tags for Go. @definition.<kind> is the whole definition and @name its name; references put
; @reference.<kind> on the name node. Constants and variables are matched at any depth: those
; inside function bodies are dropped by the indexer as locals.

(function_declaration name: (identifier) @name) @definition.function
(method_declaration name: (field_identifier) @name) @definition.method

(type_spec name: (type_identifier) @name type: (struct_type)) @definition.struct
(type_spec name: (type_identifier) @name type: (interface_type)) @definition.interface
(type_spec
  name: (type_identifier) @name
  type: [
    (type_identifier) (generic_type) (qualified_type) (pointer_type) (array_type) (slice_type)
    (map_type) (channel_type) (function_type) (parenthesized_type) (negated_type)
  ]) @definition.type
(type_alias name: (type_identifier) @name) @definition.type

(field_declaration name: (field_identifier) @name) @definition.field

(const_spec name: (identifier) @name) @definition.constant
(var_spec name: (identifier) @name) @definition.variable

; References: calls f(), pkg.F(), x.M().
(call_expression function: (identifier) @reference.call)
(call_expression function: (selector_expression field: (field_identifier) @reference.call))

; References: type names wherever a type is expected (not the name a type_spec defines).
(_ type: (type_identifier) @reference.type)
(_ element: (type_identifier) @reference.type)
(_ key: (type_identifier) @reference.type)
(_ value: (type_identifier) @reference.type)
(_ result: (type_identifier) @reference.type)
(pointer_type (type_identifier) @reference.type)
(qualified_type name: (type_identifier) @reference.type)
(type_elem (type_identifier) @reference.type)
(negated_type (type_identifier) @reference.type)
(type_constraint (type_identifier) @reference.type)
(parenthesized_type (type_identifier) @reference.type)
