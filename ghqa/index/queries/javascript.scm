; Tags for JavaScript. @definition.<kind> is the whole definition and @name its name; references
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

(class_declaration name: (identifier) @name) @definition.class
(lexical_declaration
  (variable_declarator name: (identifier) @name value: (class))) @definition.class

((method_definition name: (property_identifier) @name) @definition.constructor
 (#eq? @name "constructor"))
((method_definition name: [(property_identifier) (private_property_identifier)] @name)
  @definition.method
 (#not-eq? @name "constructor"))
(field_definition
  property: [(property_identifier) (private_property_identifier)] @name
  value: [(arrow_function) (function_expression)]) @definition.method

; References: calls f(), o.m(), o.#m(), and constructions new X(), new ns.X().
(call_expression function: (identifier) @reference.call)
(call_expression
  function: (member_expression
    property: [(property_identifier) (private_property_identifier)] @reference.call))
(new_expression constructor: (identifier) @reference.call)
(new_expression constructor: (member_expression property: (property_identifier) @reference.call))
