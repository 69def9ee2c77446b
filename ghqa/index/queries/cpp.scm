; Tags for C++: the C patterns (see c.scm) adapted, plus classes, namespaces, methods and
; templates. @definition.<kind> is the whole definition, @name its name, or @declarator the top
; of a declarator chain the indexer walks down to the name. References put @reference.<kind> on
; the name node. Function definitions are told apart by where they sit and how they are named:
; inside a class body, or named Foo::bar (out of line), they are methods; elsewhere functions.
; Pointer- and reference-returning definitions are matched through their wrapper, since the
; indexer cannot walk a reference_declarator (it has no declarator field).

; Methods: names only a member function can have (field_identifier, ~Destructor), anywhere.
(function_definition
  declarator: [
    (function_declarator declarator: [(field_identifier) (destructor_name)] @name)
    (pointer_declarator
      declarator: (function_declarator declarator: [(field_identifier) (destructor_name)] @name))
    (reference_declarator
      (function_declarator declarator: [(field_identifier) (destructor_name)] @name))
  ]) @definition.method

; Out-of-line member definitions: Foo::bar() { ... } (the indexer takes the last name).
(function_definition
  declarator: [
    (function_declarator declarator: (qualified_identifier) @declarator)
    (pointer_declarator
      declarator: (function_declarator declarator: (qualified_identifier) @declarator))
    (reference_declarator (function_declarator declarator: (qualified_identifier) @declarator))
  ]) @definition.method

; Constructors and operators defined in a class body.
(field_declaration_list
  (function_definition
    declarator: [
      (function_declarator declarator: [(identifier) (operator_name)] @name)
      (pointer_declarator
        declarator: (function_declarator declarator: [(identifier) (operator_name)] @name))
      (reference_declarator
        (function_declarator declarator: [(identifier) (operator_name)] @name))
    ]) @definition.method)

; Pure virtual methods: virtual int f() = 0;
(field_declaration
  declarator: (function_declarator declarator: (field_identifier) @name)
  default_value: (number_literal)) @definition.method

; Free functions and operators: at file or namespace scope, in extern "C", under #if, or a
; friend defined in a class.
(translation_unit
  (function_definition
    declarator: [
      (function_declarator declarator: [(identifier) (operator_name)] @name)
      (pointer_declarator
        declarator: (function_declarator declarator: [(identifier) (operator_name)] @name))
      (reference_declarator
        (function_declarator declarator: [(identifier) (operator_name)] @name))
    ]) @definition.function)
(declaration_list
  (function_definition
    declarator: [
      (function_declarator declarator: [(identifier) (operator_name)] @name)
      (pointer_declarator
        declarator: (function_declarator declarator: [(identifier) (operator_name)] @name))
      (reference_declarator
        (function_declarator declarator: [(identifier) (operator_name)] @name))
    ]) @definition.function)
(linkage_specification
  (function_definition
    declarator: [
      (function_declarator declarator: [(identifier) (operator_name)] @name)
      (pointer_declarator
        declarator: (function_declarator declarator: [(identifier) (operator_name)] @name))
      (reference_declarator
        (function_declarator declarator: [(identifier) (operator_name)] @name))
    ]) @definition.function)
(friend_declaration
  (function_definition
    declarator: [
      (function_declarator declarator: [(identifier) (operator_name)] @name)
      (pointer_declarator
        declarator: (function_declarator declarator: [(identifier) (operator_name)] @name))
      (reference_declarator
        (function_declarator declarator: [(identifier) (operator_name)] @name))
    ]) @definition.function)
(preproc_if
  (function_definition
    declarator: [
      (function_declarator declarator: [(identifier) (operator_name)] @name)
      (pointer_declarator
        declarator: (function_declarator declarator: [(identifier) (operator_name)] @name))
      (reference_declarator
        (function_declarator declarator: [(identifier) (operator_name)] @name))
    ]) @definition.function)
(preproc_ifdef
  (function_definition
    declarator: [
      (function_declarator declarator: [(identifier) (operator_name)] @name)
      (pointer_declarator
        declarator: (function_declarator declarator: [(identifier) (operator_name)] @name))
      (reference_declarator
        (function_declarator declarator: [(identifier) (operator_name)] @name))
    ]) @definition.function)
(preproc_else
  (function_definition
    declarator: [
      (function_declarator declarator: [(identifier) (operator_name)] @name)
      (pointer_declarator
        declarator: (function_declarator declarator: [(identifier) (operator_name)] @name))
      (reference_declarator
        (function_declarator declarator: [(identifier) (operator_name)] @name))
    ]) @definition.function)
(preproc_elif
  (function_definition
    declarator: [
      (function_declarator declarator: [(identifier) (operator_name)] @name)
      (pointer_declarator
        declarator: (function_declarator declarator: [(identifier) (operator_name)] @name))
      (reference_declarator
        (function_declarator declarator: [(identifier) (operator_name)] @name))
    ]) @definition.function)

; Function templates, and member function templates (methods).
(translation_unit
  (template_declaration
    (function_definition
      declarator: [
        (function_declarator declarator: [(identifier) (operator_name)] @name)
        (pointer_declarator
          declarator: (function_declarator declarator: [(identifier) (operator_name)] @name))
        (reference_declarator
          (function_declarator declarator: [(identifier) (operator_name)] @name))
      ]) @definition.function))
(declaration_list
  (template_declaration
    (function_definition
      declarator: [
        (function_declarator declarator: [(identifier) (operator_name)] @name)
        (pointer_declarator
          declarator: (function_declarator declarator: [(identifier) (operator_name)] @name))
        (reference_declarator
          (function_declarator declarator: [(identifier) (operator_name)] @name))
      ]) @definition.function))
(preproc_if
  (template_declaration
    (function_definition
      declarator: [
        (function_declarator declarator: [(identifier) (operator_name)] @name)
        (pointer_declarator
          declarator: (function_declarator declarator: [(identifier) (operator_name)] @name))
        (reference_declarator
          (function_declarator declarator: [(identifier) (operator_name)] @name))
      ]) @definition.function))
(preproc_ifdef
  (template_declaration
    (function_definition
      declarator: [
        (function_declarator declarator: [(identifier) (operator_name)] @name)
        (pointer_declarator
          declarator: (function_declarator declarator: [(identifier) (operator_name)] @name))
        (reference_declarator
          (function_declarator declarator: [(identifier) (operator_name)] @name))
      ]) @definition.function))
(preproc_else
  (template_declaration
    (function_definition
      declarator: [
        (function_declarator declarator: [(identifier) (operator_name)] @name)
        (pointer_declarator
          declarator: (function_declarator declarator: [(identifier) (operator_name)] @name))
        (reference_declarator
          (function_declarator declarator: [(identifier) (operator_name)] @name))
      ]) @definition.function))
(preproc_elif
  (template_declaration
    (function_definition
      declarator: [
        (function_declarator declarator: [(identifier) (operator_name)] @name)
        (pointer_declarator
          declarator: (function_declarator declarator: [(identifier) (operator_name)] @name))
        (reference_declarator
          (function_declarator declarator: [(identifier) (operator_name)] @name))
      ]) @definition.function))
(field_declaration_list
  (template_declaration
    (function_definition
      declarator: [
        (function_declarator declarator: [(identifier) (operator_name)] @name)
        (pointer_declarator
          declarator: (function_declarator declarator: [(identifier) (operator_name)] @name))
        (reference_declarator
          (function_declarator declarator: [(identifier) (operator_name)] @name))
      ]) @definition.method))

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
