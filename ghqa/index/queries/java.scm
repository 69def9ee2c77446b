; Tags for Java. @definition.<kind> is the whole definition and @name its name; references put
; @reference.<kind> on the name node. Records are classes, their components fields;
; annotation types are interfaces.

(class_declaration name: (identifier) @name) @definition.class
(record_declaration name: (identifier) @name) @definition.class
(interface_declaration name: (identifier) @name) @definition.interface
(annotation_type_declaration name: (identifier) @name) @definition.interface
(enum_declaration name: (identifier) @name) @definition.enum
(enum_constant name: (identifier) @name) @definition.enumerator

(method_declaration name: (identifier) @name) @definition.method
(constructor_declaration name: (identifier) @name) @definition.constructor
(compact_constructor_declaration name: (identifier) @name) @definition.constructor

(field_declaration declarator: (variable_declarator name: (identifier) @name)) @definition.field
(record_declaration
  parameters: (formal_parameters (formal_parameter name: (identifier) @name) @definition.field))
(constant_declaration
  declarator: (variable_declarator name: (identifier) @name)) @definition.constant

; References: method calls m(), o.m(), and constructions new X(), new X<>(), new a.X().
(method_invocation name: (identifier) @reference.call)
(object_creation_expression
  type: [
    (type_identifier) @reference.call
    (generic_type (type_identifier) @reference.call)
    (generic_type (scoped_type_identifier (type_identifier) @reference.call .))
    (scoped_type_identifier (type_identifier) @reference.call .)
  ])

; References: type names wherever a type is expected.
(field_declaration
  type: [
    (type_identifier) @reference.type
    (generic_type (type_identifier) @reference.type)
    (scoped_type_identifier (type_identifier) @reference.type .)
    (array_type element: (type_identifier) @reference.type)
  ])
(constant_declaration
  type: [
    (type_identifier) @reference.type
    (generic_type (type_identifier) @reference.type)
    (scoped_type_identifier (type_identifier) @reference.type .)
    (array_type element: (type_identifier) @reference.type)
  ])
((local_variable_declaration
  type: [
    (type_identifier) @reference.type
    (generic_type (type_identifier) @reference.type)
    (scoped_type_identifier (type_identifier) @reference.type .)
    (array_type element: (type_identifier) @reference.type)
  ])
 (#not-eq? @reference.type "var"))
(formal_parameter
  type: [
    (type_identifier) @reference.type
    (generic_type (type_identifier) @reference.type)
    (scoped_type_identifier (type_identifier) @reference.type .)
    (array_type element: (type_identifier) @reference.type)
  ])
(method_declaration
  type: [
    (type_identifier) @reference.type
    (generic_type (type_identifier) @reference.type)
    (scoped_type_identifier (type_identifier) @reference.type .)
    (array_type element: (type_identifier) @reference.type)
  ])
(enhanced_for_statement
  type: [
    (type_identifier) @reference.type
    (generic_type (type_identifier) @reference.type)
    (scoped_type_identifier (type_identifier) @reference.type .)
    (array_type element: (type_identifier) @reference.type)
  ])
(cast_expression
  type: [
    (type_identifier) @reference.type
    (generic_type (type_identifier) @reference.type)
    (scoped_type_identifier (type_identifier) @reference.type .)
    (array_type element: (type_identifier) @reference.type)
  ])
(array_creation_expression
  type: [
    (type_identifier) @reference.type
    (generic_type (type_identifier) @reference.type)
    (scoped_type_identifier (type_identifier) @reference.type .)
    (array_type element: (type_identifier) @reference.type)
  ])
(spread_parameter (type_identifier) @reference.type)
(instanceof_expression right: (type_identifier) @reference.type)
(type_arguments (type_identifier) @reference.type)
(superclass (type_identifier) @reference.type)
(super_interfaces (type_list (type_identifier) @reference.type))
(extends_interfaces (type_list (type_identifier) @reference.type))
(catch_type (type_identifier) @reference.type)
(throws (type_identifier) @reference.type)
(type_bound (type_identifier) @reference.type)
