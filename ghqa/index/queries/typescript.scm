; Tags for TypeScript, also used for TSX (so no JSX-only node types here: the query must compile
; for both grammars). @definition.<kind> is the whole definition and @name its name; references
; put @reference.<kind> on the name node. A function or class assigned to a variable
; (`const f = () => ...`) is named by the variable and spans the whole declaration.

(function_declaration name: (identifier) @name) @definition.function
(generator_function_declaration name: (identifier) @name) @definition.function
(lexical_declaration
  (variable_declarator
    name: (identifier) @name
    value: [(arrow_function) (function_expression) (generator_function)])) @definition.function
(variable_declaration
  (variable_declarator
    name: (identifier) @name
    value: [(arrow_function) (function_expression) (generator_function)])) @definition.function

(class_declaration name: (type_identifier) @name) @definition.class
(abstract_class_declaration name: (type_identifier) @name) @definition.class
(lexical_declaration
  (variable_declarator name: (identifier) @name value: (class))) @definition.class

((method_definition name: (property_identifier) @name) @definition.constructor
 (#eq? @name "constructor"))
((method_definition name: [(property_identifier) (private_property_identifier)] @name)
  @definition.method
 (#not-eq? @name "constructor"))
(abstract_method_signature name: (property_identifier) @name) @definition.method
(public_field_definition
  name: [(property_identifier) (private_property_identifier)] @name
  value: [(arrow_function) (function_expression)]) @definition.method

(interface_declaration name: (type_identifier) @name) @definition.interface
(type_alias_declaration name: (type_identifier) @name) @definition.type
(enum_declaration name: (identifier) @name) @definition.enum
(enum_body name: (property_identifier) @name @definition.enumerator)
(enum_assignment name: (property_identifier) @name) @definition.enumerator
(internal_module name: [(identifier) (nested_identifier)] @name) @definition.namespace
(module name: (identifier) @name) @definition.module
(module name: (string (string_fragment) @name)) @definition.module

; References: calls f(), o.m(), o.#m(), and constructions new X(), new ns.X().
(call_expression function: (identifier) @reference.call)
(call_expression
  function: (member_expression
    property: [(property_identifier) (private_property_identifier)] @reference.call))
(new_expression constructor: (identifier) @reference.call)
(new_expression constructor: (member_expression property: (property_identifier) @reference.call))

; References: type names wherever a type is expected (not the names definitions give).
(type_annotation (type_identifier) @reference.type)
(generic_type name: (type_identifier) @reference.type)
(nested_type_identifier name: (type_identifier) @reference.type)
(type_arguments (type_identifier) @reference.type)
(array_type (type_identifier) @reference.type)
(union_type (type_identifier) @reference.type)
(intersection_type (type_identifier) @reference.type)
(constraint (type_identifier) @reference.type)
(function_type return_type: (type_identifier) @reference.type)
(type_predicate type: (type_identifier) @reference.type)
(as_expression (type_identifier) @reference.type)
(type_alias_declaration value: (type_identifier) @reference.type)
(implements_clause (type_identifier) @reference.type)
(extends_type_clause type: (type_identifier) @reference.type)
(extends_clause value: (identifier) @reference.type)
