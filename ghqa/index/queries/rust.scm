; Tags for Rust. @definition.<kind> is the whole definition and @name its name; references put
; @reference.<kind> on the name node. A fn in an impl or trait body is a method; a fn at file or
; module level, or nested in a block, is a function. An impl is named by the implementing type.

(impl_item body: (declaration_list (function_item name: (identifier) @name) @definition.method))
(trait_item body: (declaration_list (function_item name: (identifier) @name) @definition.method))

(source_file (function_item name: (identifier) @name) @definition.function)
(mod_item body: (declaration_list (function_item name: (identifier) @name) @definition.function))
(block (function_item name: (identifier) @name) @definition.function)

(struct_item name: (type_identifier) @name) @definition.struct
(enum_item name: (type_identifier) @name) @definition.enum
(union_item name: (type_identifier) @name) @definition.union
(trait_item name: (type_identifier) @name) @definition.trait
(impl_item
  type: [
    (type_identifier) @name
    (scoped_type_identifier name: (type_identifier) @name)
    (generic_type type: (type_identifier) @name)
    (generic_type type: (scoped_type_identifier name: (type_identifier) @name))
  ]) @definition.impl
(mod_item name: (identifier) @name body: (declaration_list)) @definition.module
(type_item name: (type_identifier) @name) @definition.type
(macro_definition name: (identifier) @name) @definition.macro

(enum_variant name: (identifier) @name) @definition.enumerator
(field_declaration name: (field_identifier) @name) @definition.field

; Constants and statics (those inside function bodies are dropped by the indexer as locals).
(const_item name: (identifier) @name) @definition.constant
(static_item name: (identifier) @name) @definition.variable

; References: calls f(), a::b(), x.m(), f::<T>(), and macro invocations m!().
(call_expression function: (identifier) @reference.call)
(call_expression function: (scoped_identifier name: (identifier) @reference.call))
(call_expression function: (field_expression field: (field_identifier) @reference.call))
(call_expression
  function: (generic_function
    function: [
      (identifier) @reference.call
      (scoped_identifier name: (identifier) @reference.call)
      (field_expression field: (field_identifier) @reference.call)
    ]))
(macro_invocation macro: (identifier) @reference.call)
(macro_invocation macro: (scoped_identifier name: (identifier) @reference.call))

; References: type names wherever a type is expected (not the names definitions give).
(_ type: (type_identifier) @reference.type)
(_ return_type: (type_identifier) @reference.type)
(_ trait: (type_identifier) @reference.type)
(type_arguments (type_identifier) @reference.type)
(trait_bounds (type_identifier) @reference.type)
(scoped_type_identifier name: (type_identifier) @reference.type)
(struct_expression name: (type_identifier) @reference.type)
