; Tags for C. In each pattern, @definition.<kind> is the whole definition (its span becomes the
; symbol's lines) and @name its name; where the name sits at the bottom of a declarator chain
; (pointers, arrays, function pointers), @declarator is captured and the indexer walks down to it.
; References put @reference.<kind> on the name node itself. Kinds follow ctags where they overlap.

(function_definition declarator: (_) @declarator) @definition.function

(preproc_def name: (identifier) @name) @definition.macro
(preproc_function_def name: (identifier) @name) @definition.macro

(struct_specifier name: (type_identifier) @name body: (field_declaration_list)) @definition.struct
(union_specifier name: (type_identifier) @name body: (field_declaration_list)) @definition.union
(enum_specifier name: (type_identifier) @name body: (enumerator_list)) @definition.enum
(enumerator name: (identifier) @name) @definition.enumerator

(type_definition declarator: (_) @declarator) @definition.typedef
(field_declaration declarator: (_) @declarator) @definition.field

; Variables: every declaration matches; the indexer keeps the file-scope ones (locals, extern
; declarations and prototypes are dropped). A pattern rooted at the declaration's parent
; (translation_unit, preproc_ifdef, ...) would cost more: its state stays open while the walk goes
; through all that the parent holds.
(declaration declarator: (_) @declarator) @definition.variable

; References: the capture @reference.<kind> sits on the name node itself.
(call_expression function: (identifier) @reference.call)
(call_expression function: (field_expression field: (field_identifier) @reference.call))
(struct_specifier name: (type_identifier) @reference.type !body)
(union_specifier name: (type_identifier) @reference.type !body)
(enum_specifier name: (type_identifier) @reference.type !body)
(type_descriptor type: (type_identifier) @reference.type)
(parameter_declaration type: (type_identifier) @reference.type)
(declaration type: (type_identifier) @reference.type)
