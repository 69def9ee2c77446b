; Tags for C++: the C patterns (see c.scm) adapted, plus classes, namespaces, methods and
; templates. @definition.<kind> is the whole definition, @name its name, or @declarator the top
; of a declarator chain the indexer walks down to the name. References put @reference.<kind> on
; the name node. Every function definition (also inside a template) is captured as a function;
; the indexer makes it a method when it sits in a class body or is named Foo::bar (out of line).

(function_definition declarator: (_) @declarator) @definition.function

; Pure virtual methods: virtual int f() = 0;
(field_declaration
  declarator: (function_declarator declarator: (field_identifier) @name)
  default_value: (number_literal)) @definition.method

(preproc_def name: (identifier) @name) @definition.macro
(preproc_function_def name: (identifier) @name) @definition.macro

(namespace_definition
  name: [(namespace_identifier) (nested_namespace_specifier)] @name
  body: (declaration_list)) @definition.namespace

(class_specifier
  name: [(type_identifier) @name (template_type name: (type_identifier) @name)]
  body: (field_declaration_list)) @definition.class
(struct_specifier
  name: [(type_identifier) @name (template_type name: (type_identifier) @name)]
  body: (field_declaration_list)) @definition.struct
(union_specifier name: (type_identifier) @name body: (field_declaration_list)) @definition.union
(enum_specifier name: (type_identifier) @name body: (enumerator_list)) @definition.enum
(enumerator name: (identifier) @name) @definition.enumerator

(type_definition declarator: (_) @declarator) @definition.typedef
(alias_declaration name: (type_identifier) @name) @definition.type

; Data members (member function declarations are left out: the definition is what counts).
(field_declaration
  declarator: [
    (field_identifier)
    (pointer_declarator declarator: (field_identifier))
    (pointer_declarator declarator: (pointer_declarator declarator: (field_identifier)))
    (array_declarator)
    (function_declarator declarator: (parenthesized_declarator))
  ] @declarator) @definition.field
(field_declaration declarator: (reference_declarator (field_identifier) @name)) @definition.field

; Declarations: namespace-scope variables (locals, extern declarations and prototypes are dropped).
(declaration declarator: (_) @declarator) @definition.variable

; References: calls (f(), obj.m(), p->m(), ns::f(), a::b::f(), f<T>(), ns::f<T>(), new T).
(call_expression function: (identifier) @reference.call)
(call_expression function: (field_expression field: (field_identifier) @reference.call))
(call_expression function: (qualified_identifier name: (identifier) @reference.call))
(call_expression
  function: (qualified_identifier
    name: (qualified_identifier name: (identifier) @reference.call)))
(call_expression function: (template_function name: (identifier) @reference.call))
(call_expression
  function: (qualified_identifier name: (template_function name: (identifier) @reference.call)))
(new_expression type: (type_identifier) @reference.call)
(new_expression type: (qualified_identifier name: (type_identifier) @reference.call))

; References: type uses.
(struct_specifier name: (type_identifier) @reference.type !body)
(class_specifier name: (type_identifier) @reference.type !body)
(union_specifier name: (type_identifier) @reference.type !body)
(enum_specifier name: (type_identifier) @reference.type !body)
(declaration
  type: [
    (type_identifier) @reference.type
    (qualified_identifier name: (type_identifier) @reference.type)
    (template_type name: (type_identifier) @reference.type)
    (qualified_identifier name: (template_type name: (type_identifier) @reference.type))
  ])
(parameter_declaration
  type: [
    (type_identifier) @reference.type
    (qualified_identifier name: (type_identifier) @reference.type)
    (template_type name: (type_identifier) @reference.type)
    (qualified_identifier name: (template_type name: (type_identifier) @reference.type))
  ])
(optional_parameter_declaration
  type: [
    (type_identifier) @reference.type
    (qualified_identifier name: (type_identifier) @reference.type)
    (template_type name: (type_identifier) @reference.type)
    (qualified_identifier name: (template_type name: (type_identifier) @reference.type))
  ])
(field_declaration
  type: [
    (type_identifier) @reference.type
    (qualified_identifier name: (type_identifier) @reference.type)
    (template_type name: (type_identifier) @reference.type)
    (qualified_identifier name: (template_type name: (type_identifier) @reference.type))
  ])
(function_definition
  type: [
    (type_identifier) @reference.type
    (qualified_identifier name: (type_identifier) @reference.type)
    (template_type name: (type_identifier) @reference.type)
    (qualified_identifier name: (template_type name: (type_identifier) @reference.type))
  ])
(type_definition
  type: [
    (type_identifier) @reference.type
    (qualified_identifier name: (type_identifier) @reference.type)
    (template_type name: (type_identifier) @reference.type)
    (qualified_identifier name: (template_type name: (type_identifier) @reference.type))
  ])
(type_descriptor
  type: [
    (type_identifier) @reference.type
    (qualified_identifier name: (type_identifier) @reference.type)
    (template_type name: (type_identifier) @reference.type)
    (qualified_identifier name: (template_type name: (type_identifier) @reference.type))
  ])
(base_class_clause
  [
    (type_identifier) @reference.type
    (qualified_identifier name: (type_identifier) @reference.type)
    (template_type name: (type_identifier) @reference.type)
  ])
