; Tags for Python. @definition.<kind> is the whole definition (a decorated function's span is
; its def, decorators excluded) and @name its name; references put @reference.<kind> on the name.
; A def directly in a class body is a method; any other def is a function. Since the query
; language cannot say "a block not in a class", functions are matched under each parent that can
; hold them: the module, a function body, and the compound statements below.

(class_definition
  body: (block
    [
      (function_definition name: (identifier) @name) @definition.method
      (decorated_definition
        definition: (function_definition name: (identifier) @name) @definition.method)
    ]))

(module
  [
    (function_definition name: (identifier) @name) @definition.function
    (decorated_definition
      definition: (function_definition name: (identifier) @name) @definition.function)
  ])
(function_definition body: (block
  [
    (function_definition name: (identifier) @name) @definition.function
    (decorated_definition
      definition: (function_definition name: (identifier) @name) @definition.function)
  ]))
(if_statement (block
  [
    (function_definition name: (identifier) @name) @definition.function
    (decorated_definition
      definition: (function_definition name: (identifier) @name) @definition.function)
  ]))
(elif_clause (block
  [
    (function_definition name: (identifier) @name) @definition.function
    (decorated_definition
      definition: (function_definition name: (identifier) @name) @definition.function)
  ]))
(else_clause (block
  [
    (function_definition name: (identifier) @name) @definition.function
    (decorated_definition
      definition: (function_definition name: (identifier) @name) @definition.function)
  ]))
(try_statement (block
  [
    (function_definition name: (identifier) @name) @definition.function
    (decorated_definition
      definition: (function_definition name: (identifier) @name) @definition.function)
  ]))
(except_clause (block
  [
    (function_definition name: (identifier) @name) @definition.function
    (decorated_definition
      definition: (function_definition name: (identifier) @name) @definition.function)
  ]))
(finally_clause (block
  [
    (function_definition name: (identifier) @name) @definition.function
    (decorated_definition
      definition: (function_definition name: (identifier) @name) @definition.function)
  ]))
(with_statement (block
  [
    (function_definition name: (identifier) @name) @definition.function
    (decorated_definition
      definition: (function_definition name: (identifier) @name) @definition.function)
  ]))
(for_statement (block
  [
    (function_definition name: (identifier) @name) @definition.function
    (decorated_definition
      definition: (function_definition name: (identifier) @name) @definition.function)
  ]))
(while_statement (block
  [
    (function_definition name: (identifier) @name) @definition.function
    (decorated_definition
      definition: (function_definition name: (identifier) @name) @definition.function)
  ]))

(class_definition name: (identifier) @name) @definition.class

; Class attributes (`x = 1`, `x: int`) are fields.
(class_definition
  body: (block
    (expression_statement
      (assignment left: (identifier) @name)) @definition.field))

; Module-level assignments: UPPER_CASE names are constants, others variables.
((module
   (expression_statement
     (assignment
       left: [
         (identifier) @name
         (pattern_list (identifier) @name)
         (tuple_pattern (identifier) @name)
       ])) @definition.constant)
 (#match? @name "^_*[A-Z][A-Z0-9_]*$"))
((module
   (expression_statement
     (assignment
       left: [
         (identifier) @name
         (pattern_list (identifier) @name)
         (tuple_pattern (identifier) @name)
       ])) @definition.variable)
 (#not-match? @name "^_*[A-Z][A-Z0-9_]*$"))

; References: calls f() and obj.m(), and decorators (@name, @mod.name, @name(...)).
(call function: (identifier) @reference.call)
(call function: (attribute attribute: (identifier) @reference.call))
(decorator (identifier) @reference.call)
(decorator (attribute attribute: (identifier) @reference.call))

; References: names in type annotations, and base classes.
(type (identifier) @reference.type)
(type (attribute attribute: (identifier) @reference.type))
(type (generic_type (identifier) @reference.type))
(type (binary_operator [(identifier) @reference.type (attribute attribute: (identifier) @reference.type)]))
(class_definition
  superclasses: (argument_list
    [(identifier) @reference.type (attribute attribute: (identifier) @reference.type)]))
