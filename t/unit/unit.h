/*
 * What the unit test files share: unit_tests.c counts and prints.
 */

#ifndef _UNIT_H_INCLUDED_
#define _UNIT_H_INCLUDED_


void ok(int cond, const char *name);

void test_providers(void);
void test_vstate(void);


#endif /* _UNIT_H_INCLUDED_ */
